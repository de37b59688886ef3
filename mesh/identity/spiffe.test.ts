import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { describeWithOpenssl, issueCertificate, testPki } from "../../test/pki";
import { certificateFiles } from "./pki";
import { parseSpiffeId, spiffeIdOfCertificate } from "./spiffe";
import { uriSans } from "./san";

const ORDERS = "spiffe://shop.local/service/orders";
const ADMIN = "spiffe://shop.local/operator/admin";

describe("parseSpiffeId", () => {
  it("reads a service's and an operator's id of the mesh", () => {
    expect(parseSpiffeId(ORDERS)).toEqual({
      trustDomain: "shop.local",
      party: { kind: "service", name: "orders" },
    });
    expect(parseSpiffeId(ADMIN)?.party).toEqual({ kind: "operator", name: "admin" });
  });

  it.each([
    ["another scheme", "https://shop.local/service/orders"],
    ["an upper-case scheme", "SPIFFE://shop.local/service/orders"],
    ["an upper-case trust domain", "spiffe://Shop.local/service/orders"],
    ["a port", "spiffe://shop.local:443/service/orders"],
    ["user info", "spiffe://admin@shop.local/service/orders"],
    ["a query", "spiffe://shop.local/service/orders?x=1"],
    ["a fragment", "spiffe://shop.local/service/orders#x"],
    ["percent-encoding", "spiffe://shop.local/service/%6Frders"],
    ["a trailing slash", "spiffe://shop.local/service/orders/"],
    ["an empty segment", "spiffe://shop.local/service//orders"],
    ["a dot segment", "spiffe://shop.local/service/../operator/admin"],
    ["a path the mesh does not issue", "spiffe://shop.local/service/orders/extra"],
    ["no path", "spiffe://shop.local"],
    ["text around it", "URI:spiffe://shop.local/service/orders"],
    ["a comma and more", "spiffe://shop.local/service/orders, URI:x"],
    ["over 2048 bytes", `spiffe://shop.local/service/${"a".repeat(2_048)}`],
  ])("refuses %s", (_what, text) => {
    expect(parseSpiffeId(text)).toBeUndefined();
  });
});

describeWithOpenssl("the SPIFFE id of a certificate from the mesh CA", () => {
  const security = testPki();
  const idOf = (sans: string[], name: string): string | undefined =>
    spiffeIdOfCertificate(
      new X509Certificate(readFileSync(issueCertificate(security, name, sans).cert)),
    );

  it("is the one URI SAN of a certificate the mesh made, beside its DNS and IP SANs", () => {
    const files = certificateFiles(security.pkiDir, { kind: "service", name: "orders" });
    const cert = new X509Certificate(readFileSync(files.cert));
    expect(uriSans(cert.raw)).toEqual([ORDERS]);
    expect(spiffeIdOfCertificate(cert)).toBe(ORDERS);
  });

  it("is none when spiffe text sits in an email SAN", () => {
    // Node prints this SAN as "email:URI:spiffe://shop.local/operator/admin".
    expect(idOf([`email.1 = URI:${ADMIN}`], "email-san")).toBeUndefined();
  });

  it("is none when an email SAN smuggles a comma and a URI after it", () => {
    expect(idOf([`email.1 = "a@b.c, URI:${ADMIN}"`], "email-comma")).toBeUndefined();
  });

  it("is none when spiffe text sits in a DNS SAN", () => {
    expect(idOf([`DNS.1 = URI:${ADMIN}`, "DNS.2 = localhost"], "dns-san")).toBeUndefined();
  });

  it("is none with two URI SANs, even when both are ids of the mesh", () => {
    expect(idOf([`URI.1 = ${ORDERS}`, `URI.2 = ${ADMIN}`], "two-uris")).toBeUndefined();
  });

  it("is none when the one URI SAN is not a SPIFFE id of the mesh's shape", () => {
    expect(idOf([`URI.1 = ${ADMIN}?as=orders`], "query")).toBeUndefined();
    expect(idOf(["URI.1 = https://shop.local/operator/admin"], "https")).toBeUndefined();
  });

  it("is the id of another trust domain as written (access control refuses it)", () => {
    expect(idOf(["URI.1 = spiffe://evil.example/operator/admin"], "other-domain")).toBe(
      "spiffe://evil.example/operator/admin",
    );
  });
});

describe("uriSans", () => {
  it("is undefined for bytes that are not a certificate", () => {
    expect(uriSans(Buffer.from([0x30, 0x82, 0xff]))).toBeUndefined();
    expect(uriSans(Buffer.alloc(0))).toBeUndefined();
    expect(uriSans(Buffer.from("not a certificate"))).toBeUndefined();
  });
});
