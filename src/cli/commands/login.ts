import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { collectTrustRealm, transportOptions, type TransportFlags } from "../options.js";

interface LoginFlags extends TransportFlags {
  username?: string;
  passwordStdin?: boolean;
  keychain?: boolean;
}

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
    .option("--trust-realm <host>", "a token service on an unrelated site that may receive this credential; recorded for later runs (repeatable)", collectTrustRealm);
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
    const [{ parseRegistryHost, storeCredential }, prompt, { UsageError }, { verifyCredentials }, { recordTrustedRealms }] = await Promise.all([
      import("../../auth/login.js"),
      import("../prompt.js"),
      import("../../errors.js"),
      import("../../transport/registry/index.js"),
      import("../../auth/realm-trust.js"),
    ]);
    const host = parseRegistryHost(hostText);
    const stdin = process.stdin as import("../prompt.js").TtyInput;
    const terminal = stdin.isTTY === true;
    let username = flags.username;
    if (username === undefined) {
      if (!terminal || flags.passwordStdin) throw new UsageError("missing -u/--username (no terminal to ask on)");
      username = (await prompt.promptLine("Username: ", stdin, ctx.stderr, false)).trim();
    }
    if (username === "") throw new UsageError("empty user name");
    let password: string;
    if (flags.passwordStdin) password = await prompt.readSecretFromStream(stdin);
    else if (terminal) password = await prompt.promptLine("Password: ", stdin, ctx.stderr, true);
    else throw new UsageError("no password: standard input is not a terminal; pipe it in with --password-stdin");
    if (password === "") throw new UsageError("empty password");
    const creds = { username, password };
    const transport = transportOptions(flags, ctx);
    // Checked before anything is stored: a typo must not replace a working credential.
    // JSON quoting keeps a user name with odd characters on the error's one line.
    await verifyCredentials(host, creds, transport, `dray login (user ${JSON.stringify(username)})`, ctx.signal);
    const stored = await storeCredential(host, creds, { keychain: flags.keychain === true, notice: (m) => ctx.message(m) });
    if (flags.trustRealm !== undefined) {
      const path = await recordTrustedRealms(host, flags.trustRealm);
      ctx.message(`Token realm ${flags.trustRealm.join(", ")} trusted for ${host}; recorded in ${path}`);
    }
    ctx.message(stored.keychain ? `Secret stored in the OS keychain; marker written to ${stored.configPath}` : `Credential stored in ${stored.configPath}`);
    ctx.message("Login Succeeded");
  });
}
