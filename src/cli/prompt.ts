import type { Readable, Writable } from "node:stream";
import { InterruptedError, UsageError } from "../errors.js";

/**
 * Reading a user name and password for `dray login`: from standard input
 * (`--password-stdin`), or from the terminal with the password never echoed.
 * Without a terminal and without --password-stdin there is no prompt at all,
 * only a usage error: a CI job must never hang waiting for input.
 */

export type TtyInput = Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };

/** Everything on `input` up to EOF, with the final line ending removed (as `docker login --password-stdin`). */
export async function readSecretFromStream(input: Readable, maxBytes = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of input) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    total += buf.length;
    if (total > maxBytes) throw new UsageError(`the password on standard input is longer than ${maxBytes} bytes`);
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
  if (text === "") throw new UsageError("the password on standard input is empty");
  return text;
}

/**
 * Asks on `output` (stderr) and reads one line from the terminal `input`.
 * With `hidden`, the terminal is put in raw mode and nothing typed is echoed.
 */
export async function promptLine(question: string, input: TtyInput, output: Writable, hidden: boolean): Promise<string> {
  if (input.isTTY !== true) throw new UsageError("cannot prompt: standard input is not a terminal");
  if (hidden && typeof input.setRawMode !== "function")
    throw new UsageError("cannot read a password without echo here; use --password-stdin");
  const raw = hidden;
  // Echo goes off before the question appears, so nothing typed right after it is ever shown.
  if (raw) input.setRawMode!(true);
  output.write(question);
  input.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let answer = "";
      const finish = (err: Error | undefined): void => {
        input.off("data", onData);
        input.off("end", onEnd);
        if (hidden) output.write("\n");
        if (err) reject(err);
        else resolve(answer);
      };
      const onEnd = (): void => finish(new UsageError("no input"));
      const onData = (chunk: Buffer | string): void => {
        for (const ch of String(chunk)) {
          if (ch === "\r" || ch === "\n") return finish(undefined);
          if (ch === "\u0003") return finish(new InterruptedError()); // Ctrl-C in raw mode arrives as a byte, not a signal
          if (ch === "\u0004") return finish(answer === "" ? new UsageError("no input") : undefined);
          if (ch === "\u007f" || ch === "\b") answer = answer.slice(0, -1);
          else answer += ch;
        }
      };
      input.on("data", onData);
      input.on("end", onEnd);
    });
  } finally {
    if (raw) input.setRawMode!(false);
    input.pause();
  }
}
