import { X509Certificate } from "node:crypto";
import { readFileSync, rmSync, statSync } from "node:fs";
import { describeWithOpenssl, testPki } from "../../test/pki";
import { certificateFiles, ensurePki, partiesOf } from "./pki";
import { spiffeId } from "./spiffe";

describeWithOpenssl("the mesh's PKI (openssl)", () => {
  const security = testPki();
  afterAll(() => rmSync(security.pkiDir, { recursive: true, force: true }));
  const cert = (file: string) => new X509Certificate(readFileSync(file));

  it("makes a CA and, per service, client and operator, a certificate naming its SPIFFE id", () => {
    const ca = cert(certificateFiles(security.pkiDir, partiesOf(security)[0]).ca);
    expect(ca.ca).toBe(true);
    expect(partiesOf(security).map((p) => `${p.kind}/${p.name}`)).toEqual([
      "service/users",
      "service/inventory",
      "service/payments",
      "service/orders",
      "service/notifications",
      "service/gateway",
      "operator/admin",
    ]);
    for (const party of partiesOf(security)) {
      const files = certificateFiles(security.pkiDir, party);
      const leaf = cert(files.cert);
      expect(leaf.ca).toBe(false);
      expect(leaf.verify(ca.publicKey)).toBe(true);
      expect(leaf.subjectAltName?.split(", ")).toEqual(
        expect.arrayContaining([
          `URI:${spiffeId(security.trustDomain, party)}`,
          "IP Address:127.0.0.1",
          "DNS:localhost",
        ]),
      );
      expect(statSync(files.key).mode & 0o777).toBe(0o600);
    }
    expect(statSync(security.pkiDir).mode & 0o777).toBe(0o700);
  });

  it("keeps valid certificates, and makes again only a missing one", () => {
    expect(ensurePki({ security, hosts: ["127.0.0.1"] })).toEqual([]);
    const orders = certificateFiles(security.pkiDir, { kind: "service", name: "orders" });
    const before = cert(orders.cert).serialNumber;
    rmSync(orders.key);
    expect(ensurePki({ security, hosts: ["127.0.0.1"] })).toEqual([orders.key, orders.cert]);
    expect(cert(orders.cert).serialNumber).not.toBe(before);
  });

  it("makes the certificates again when they are about to expire, keeping the longer-lived CA", () => {
    const later = new Date(Date.now() + (security.certificateDays - 0.5) * 86_400_000);
    const written = ensurePki({ security, hosts: ["127.0.0.1"], now: later });
    expect(written).toHaveLength(2 * partiesOf(security).length);
    expect(written.some((file) => file.endsWith("ca.crt"))).toBe(false);
  });

  it("names openssl when it cannot run", () => {
    expect(() =>
      ensurePki({ security, hosts: [], openssl: "/nonexistent/openssl", now: new Date(0) }),
    ).toThrow(/openssl req failed/);
  });
});
