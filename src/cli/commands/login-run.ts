import { UsageError } from "../../api/model.js";
import { parseRegistryHost, recordTrustedRealms, storeCredential } from "../../api/auth.js";
import { verifyCredentials } from "../../api/transport.js";
import { transportOptions, type TransportFlags } from "../options.js";
import * as prompt from "../prompt.js";
import type { CliContext } from "../context.js";
import { parseFormat, render } from "../output.js";

export interface LoginFlags extends TransportFlags {
  username?: string;
  passwordStdin?: boolean;
  keychain?: boolean;
  format?: string;
}

/** The body of `dray login`, loaded only when it runs. */
export async function runLogin(ctx: CliContext, hostText: string, flags: LoginFlags): Promise<void> {
  const format = parseFormat(flags.format);
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
  const checked = await verifyCredentials(host, creds, transport, `dray login (user ${JSON.stringify(username)})`, ctx.signal);
  if (checked === "open") {
    // docker stores the credential and says "Login Succeeded"; it would then be sent to a registry that never asked for it.
    ctx.message(`${host} asks no credentials (GET /v2/ answered 200 without them): nothing stored`);
    await render(ctx, format, { Registry: host, Stored: null, Keychain: false }, () => "");
    return;
  }
  const stored = await storeCredential(host, creds, { keychain: flags.keychain === true, notice: (m) => ctx.message(m) });
  if (flags.trustRealm !== undefined) {
    const path = await recordTrustedRealms(host, flags.trustRealm);
    ctx.message(`Token realm ${flags.trustRealm.join(", ")} trusted for ${host}; recorded in ${path}`);
  }
  ctx.message(
    stored.keychain
      ? `Secret stored in the OS keychain; marker written to ${stored.configPath}`
      : `Credential stored in ${stored.configPath}`,
  );
  ctx.message("Login Succeeded");
  await render(ctx, format, { Registry: host, Stored: stored.configPath, Keychain: stored.keychain }, () => "");
}
