// Certificates made by `openssl` inside the test: a throwaway CA and a server
// certificate for 127.0.0.1 / ::1 / localhost signed by it, plus self-signed
// signing certificates for the token server.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Certificates {
  caFile: string;
  caPem: string;
  caKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`openssl ${args[0]} failed: ${stderr || String(err)}`, { cause: err });
  }
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/**
 * A CA and a server certificate valid for IP:127.0.0.1, IP:::1 and
 * DNS:localhost, plus the DNS `names` given (the vendor emulation's
 * registry.example.test and friends), written under `dir`.
 */
export function makeCertificates(dir: string, names: readonly string[] = []): Certificates {
  mkdirSync(dir, { recursive: true });
  openssl(
    [
      "req",
      "-x509",
      ...EC_KEY,
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "2",
      "-subj",
      "/CN=dray test CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  openssl(["req", "-new", ...EC_KEY, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"], dir);
  writeFileSync(
    join(dir, "server.ext"),
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      `subjectAltName=${["IP:127.0.0.1", "IP:::1", "DNS:localhost", ...names.map((n) => `DNS:${n}`)].join(",")}`,
      "",
    ].join("\n"),
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      "2",
      "-extfile",
      "server.ext",
    ],
    dir,
  );
  return {
    caFile: join(dir, "ca.crt"),
    caPem: readFileSync(join(dir, "ca.crt"), "utf8"),
    caKeyFile: join(dir, "ca.key"),
    serverCertFile: join(dir, "server.crt"),
    serverKeyFile: join(dir, "server.key"),
  };
}

export interface SigningCertificate {
  certFile: string;
  certPem: string;
  keyPem: string;
  /** The certificate's DER bytes, base64 (standard alphabet), as a JWT `x5c` entry holds it. */
  certDerBase64: string;
}

/** A self-signed P-256 certificate for signing tokens (the registry's rootcertbundle). */
export function makeSigningCertificate(dir: string, cn = "dray test token issuer"): SigningCertificate {
  mkdirSync(dir, { recursive: true });
  openssl(["req", "-x509", ...EC_KEY, "-keyout", "signing.key", "-out", "signing.crt", "-days", "2", "-subj", `/CN=${cn}`], dir);
  const certPem = readFileSync(join(dir, "signing.crt"), "utf8");
  const certDerBase64 = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
  return { certFile: join(dir, "signing.crt"), certPem, keyPem: readFileSync(join(dir, "signing.key"), "utf8"), certDerBase64 };
}

export interface ClientCertificates {
  /** The CA that signed the client certificate: the registry's `http.tls.clientcas`. */
  clientCaFile: string;
  certFile: string;
  keyFile: string;
  /** A second pair, signed by a CA the registry does not trust. */
  strangerCertFile: string;
  strangerKeyFile: string;
}

function clientPair(dir: string, ca: string, name: string): void {
  openssl(["req", "-new", ...EC_KEY, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`], dir);
  writeFileSync(
    join(dir, `${name}.ext`),
    ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth", ""].join("\n"),
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.crt`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.cert`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ],
    dir,
  );
}

/** A client CA and a client certificate it signed (mTLS), plus a stranger's pair from another CA, minted by openssl. */
export function makeClientCertificates(dir: string): ClientCertificates {
  mkdirSync(dir, { recursive: true });
  for (const ca of ["client-ca", "stranger-ca"]) {
    openssl(
      [
        "req",
        "-x509",
        ...EC_KEY,
        "-keyout",
        `${ca}.key`,
        "-out",
        `${ca}.crt`,
        "-days",
        "2",
        "-subj",
        `/CN=dray test ${ca}`,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      ],
      dir,
    );
  }
  clientPair(dir, "client-ca", "client");
  clientPair(dir, "stranger-ca", "stranger");
  return {
    clientCaFile: join(dir, "client-ca.crt"),
    certFile: join(dir, "client.cert"),
    keyFile: join(dir, "client.key"),
    strangerCertFile: join(dir, "stranger.cert"),
    strangerKeyFile: join(dir, "stranger.key"),
  };
}
