import { status } from "@grpc/grpc-js";

/** gRPC code names by number ("OK", "CANCELLED", … "UNAUTHENTICATED"), as metrics label them. */
export const CODE_NAMES: readonly string[] = Array.from(
  { length: 17 },
  (_, code) => (status as unknown as Record<number, string>)[code],
);

/** The name of a status code, "UNKNOWN" for a number outside the 17 gRPC codes. */
export const codeName = (code: number): string => CODE_NAMES[code] ?? "UNKNOWN";

/** `/pkg.Service/Method` → `["pkg.Service", "Method"]`. */
export function splitPath(path: string): [service: string, method: string] {
  const [service, method] = path.slice(1).split("/");
  return [service, method];
}

/** The mesh service a gRPC service belongs to: `shop.payments.v1.PaymentService` → "payments". */
export const meshServiceOf = (grpcService: string): string =>
  grpcService.split(".")[1] ?? grpcService;
