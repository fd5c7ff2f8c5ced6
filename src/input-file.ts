// A small file a flag names to be read (a public or signing key, a trusted root, a certificate): a regular file,
// or a pipe, FIFO or character device (`--key <(openssl pkey …)`, /dev/stdin), which is read once, to its end.
import { open, type FileHandle } from "node:fs/promises";
import { UsageError, whyUnreadable } from "./errors.js";
import { quote } from "./ref/reference.js";

/**
 * The bytes of `path`, refused in words (exit 2, `WHAT "PATH" …`): missing, unreadable, a directory, or more
 * than `max` bytes (a pipe is read no further than that).
 */
export async function readInputFile(path: string, what: string, max: number): Promise<Buffer> {
  const name = `${what} ${quote(path)}`;
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err) {
    throw new UsageError(`${name} ${whyUnreadable(err)}`, { where: path });
  }
  const tooLarge = (): UsageError => new UsageError(`${name} is larger than ${max} bytes`, { where: path });
  try {
    const info = await fh.stat();
    if (info.isDirectory()) throw new UsageError(`${name} is a directory, not a file`, { where: path });
    if (info.isFile() && info.size > max) throw tooLarge();
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const { bytesRead, buffer } = await fh.read(Buffer.alloc(64 * 1024), 0, 64 * 1024, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > max) throw tooLarge();
      chunks.push(buffer.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${name} cannot be read${code ? ` (${code})` : ""}`, { where: path, cause: err });
  } finally {
    await fh.close();
  }
}
