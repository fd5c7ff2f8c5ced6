import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { collectTrustRealm } from "../options.js";
import type { LoginFlags } from "./login-run.js";

/**
 * `dray login HOST -u USER --password-stdin`: the credential is checked
 * against the registry first and stored only if it is accepted, in docker's
 * config.json (mode 0600, atomic) or, with --keychain, in the OS keychain.
 */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("login")
    .description("check a credential against a registry and store it (docker config.json, or the OS keychain)")
    .argument("<host>", "registry host[:port]")
    .option("-u, --username <user>", "user name (prompted for on a terminal when omitted)")
    .option("--password-stdin", "read the password from standard input")
    .option("--keychain", "keep the secret in the OS keychain; config.json holds only a marker")
    // Only what the check against the registry needs: the credential being tested is the one typed in.
    .option("--insecure", "allow plain HTTP and unverified TLS for a non-loopback registry")
    .option("--ca-file <file>", "extra CA certificates (PEM) to trust")
    // A registry that asks for a client certificate asks for it at login too (skopeo login has --cert-dir).
    .option("--cert-dir <dir>", "containers-certs.d folder: *.crt CAs, NAME.cert + NAME.key client pair")
    .option("--client-cert <file>", "client certificate (PEM) for registries that ask for one")
    .option("--client-key <file>", "the client certificate's key (PEM)")
    .option(
      "--trust-realm <host>",
      "a token service on an unrelated site that may receive this credential; recorded for later runs (repeatable)",
      collectTrustRealm,
    )
    .option("-f, --format <format>", 'nothing on stdout by default; json ({"Registry", "Stored", "Keychain"}) or a Go template');
  cmd.addHelpText(
    "after",
    `
Examples:
  echo "$TOKEN" | dray login registry.example.com -u ci --password-stdin
  dray login --keychain registry.example.com -u alice      (prompts for the password)
  dray login --trust-realm auth.example.net registry.example.com -u ci --password-stdin
      (the registry's token service is on another site; later runs send the credential there too)`,
  );
  cmd.action(async (hostText: string, flags: LoginFlags) => {
    const { runLogin } = await import("./login-run.js");
    await runLogin(ctx, hostText, flags);
  });
}
