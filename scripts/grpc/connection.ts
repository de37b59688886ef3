/**
 * The one channel a command uses for reflection and for the call, as grpcurl dials once:
 * plaintext, or TLS with the CA, client certificate and key files given (the system's roots
 * without -cacert), verifying the server's name (the address's host, or -authority).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Channel, credentials, type ChannelCredentials, type ChannelOptions } from "@grpc/grpc-js";
import type { GrpcCommand } from "./flags";

/** Where the command talks to. */
export interface Connection {
  address: string;
  credentials: ChannelCredentials;
  /** Shared by every client of the command (grpc-js `channelOverride`). */
  channel: Channel;
}

/** A file the TLS set-up needs could not be read (grpcurl: "Failed to create TLS config"). */
export class TlsConfigError extends Error {}

/**
 * Opens the channel. Relative file names are read from `cwd`: where the user typed the
 * command (npm sets INIT_CWD to it, and runs scripts from the project root).
 */
export function connect(command: GrpcCommand, cwd: string): Connection {
  const options: ChannelOptions = {};
  if (command.authority) {
    options["grpc.default_authority"] = command.authority;
    if (!command.plaintext) options["grpc.ssl_target_name_override"] = command.authority;
  }
  const read = (file: string | undefined): Buffer | null => {
    if (file === undefined) return null;
    try {
      return readFileSync(resolve(cwd, file));
    } catch (err) {
      throw new TlsConfigError(err instanceof Error ? err.message : String(err));
    }
  };
  let creds: ChannelCredentials;
  if (command.plaintext) creds = credentials.createInsecure();
  else {
    const [ca, key, cert] = [read(command.cacert), read(command.key), read(command.cert)];
    try {
      creds = credentials.createSsl(ca, key, cert);
    } catch (err) {
      // Node's TLS refuses the files (not PEM, a key that does not match the certificate…).
      throw new TlsConfigError(err instanceof Error ? err.message : String(err));
    }
  }
  return {
    address: command.address,
    credentials: creds,
    channel: new Channel(command.address, creds, options),
  };
}
