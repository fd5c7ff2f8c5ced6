/**
 * Object fields without those whose value is undefined: `{ a, ...defined({ tag, signal }) }`
 * instead of one `...(tag === undefined ? {} : { tag })` per field. Objects dray hands on (JSON
 * output, summaries, options for peers and libraries) then hold no `key: undefined`, which
 * `Object.keys`, `in`, deepEqual and some libraries' option checks would see. Only undefined is
 * dropped: "", 0, false and null are kept (a truthiness test is not the same thing).
 */
export function defined<T extends object>(fields: T): Defined<T> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value;
  return out as Defined<T>;
}

/** `T` with every field that may be undefined made optional and never undefined. */
export type Defined<T> = { [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & {
  [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
};
