import type { Argument, Command, Option } from "commander";

/**
 * Shell completion scripts generated from the commander program itself, so
 * they cannot drift from the real syntax: every subcommand, alias, flag and
 * choice comes from the definitions in src/cli/commands/. Positional
 * arguments named like a location (`<src>`, `<dst>`, `<loc>`, `<location>`,
 * `<image>`) complete the location prefixes `docker:// oci: oci-archive:
 * docker-archive:` and, after a local prefix, file names; an option whose
 * value placeholder is `<file>`, `<path>` or `<dir>` completes file names.
 */

export type Shell = "bash" | "zsh" | "fish";
export const SHELLS: readonly Shell[] = ["bash", "zsh", "fish"];

export const LOCATION_PREFIXES = ["docker://", "oci:", "oci-archive:", "docker-archive:"] as const;
const LOCATION_ARG_NAMES = new Set(["loc", "location", "locations", "src", "dst", "source", "destination", "image"]);
const FILE_PLACEHOLDERS = /<(?:file|path|dir|FILE|PATH|DIR)>|\[(?:file|path|dir)\]/;

type ValueKind = { kind: "none" } | { kind: "file" } | { kind: "choice"; choices: string[] } | { kind: "free" };

interface OptSpec {
  short?: string;
  long?: string;
  description: string;
  value: ValueKind;
}

interface ArgSpec {
  name: string;
  variadic: boolean;
  value: { kind: "location" } | { kind: "choice"; choices: string[] } | { kind: "free" };
}

interface CmdSpec {
  name: string;
  aliases: string[];
  description: string;
  options: OptSpec[];
  args: ArgSpec[];
}

interface ProgramSpec {
  name: string;
  options: OptSpec[];
  commands: CmdSpec[];
}

const HELP: OptSpec = { short: "-h", long: "--help", description: "display help", value: { kind: "none" } };

function optionSpec(o: Option): OptSpec {
  let value: ValueKind = { kind: "none" };
  if (o.required || o.optional) {
    const listed = /<([a-z0-9]+(?:\|[a-z0-9]+)+)>/.exec(o.flags)?.[1]; // `<oci|docker>` names its values
    if (o.argChoices) value = { kind: "choice", choices: [...o.argChoices] };
    else if (listed) value = { kind: "choice", choices: listed.split("|") };
    // --format also takes a template, which no completion can offer: the two words are.
    else if (o.long === "--format") value = { kind: "choice", choices: ["text", "json"] };
    else if (FILE_PLACEHOLDERS.test(o.flags)) value = { kind: "file" };
    else value = { kind: "free" };
  }
  const spec: OptSpec = { description: oneLine(o.description), value };
  if (o.short) spec.short = o.short;
  if (o.long) spec.long = o.long;
  return spec;
}

function argSpec(a: Argument): ArgSpec {
  const name = a.name();
  const value: ArgSpec["value"] = a.argChoices
    ? { kind: "choice", choices: [...a.argChoices] }
    : LOCATION_ARG_NAMES.has(name.toLowerCase())
      ? { kind: "location" }
      : { kind: "free" };
  return { name, variadic: a.variadic, value };
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

function isHidden(c: Command): boolean {
  // commander keeps `.hideHelp()` in a private field it offers no getter for.
  return (c as unknown as { _hidden?: boolean })._hidden === true;
}

/** The program's shape, in definition order. */
export function describeProgram(program: Command): ProgramSpec {
  return {
    name: program.name(),
    options: [...program.options.filter((o) => !o.hidden).map(optionSpec), HELP],
    commands: program.commands.filter((c) => !isHidden(c)).map(commandSpec),
  };
}

/**
 * One command's shape. A command with subcommands (`dray index create|append|remove`)
 * is described as one whose first argument is the subcommand's name, with the
 * union of the subcommands' flags and the first one's arguments after it.
 */
function commandSpec(c: Command): CmdSpec {
  const subs = c.commands.filter((s) => !isHidden(s));
  const own = { name: c.name(), aliases: [...c.aliases()], description: oneLine(c.description()) };
  if (subs.length === 0) {
    return { ...own, options: [...c.options.filter((o) => !o.hidden).map(optionSpec), HELP], args: c.registeredArguments.map(argSpec) };
  }
  const options = new Map<string, OptSpec>();
  // The first subcommand's wording wins (`index create`'s "(both sides)" over `remove`'s one-sided text).
  for (const o of subs.flatMap((s) => s.options.filter((x) => !x.hidden))) if (!options.has(o.flags)) options.set(o.flags, optionSpec(o));
  const subcommand: ArgSpec = { name: "subcommand", variadic: false, value: { kind: "choice", choices: subs.map((s) => s.name()) } };
  return { ...own, options: [...options.values(), HELP], args: [subcommand, ...subs[0]!.registeredArguments.map(argSpec)] };
}

export function completionScript(program: Command, shell: Shell): string {
  const spec = describeProgram(program);
  switch (shell) {
    case "bash":
      return bashScript(spec);
    case "zsh":
      return zshScript(spec);
    case "fish":
      return fishScript(spec);
  }
}

function header(comment: string, shell: Shell, name: string): string {
  return `${comment} ${shell} completion for ${name}. Generated by \`${name} completion ${shell}\` from the command definitions; do not edit.\n`;
}

function flagsOf(o: OptSpec): string[] {
  return [o.short, o.long].filter((f): f is string => f !== undefined);
}

// ---- bash -------------------------------------------------------------------

/** A single-quoted shell word. */
function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function bashCase(names: string[]): string {
  return names.map((n) => n.replace(/[^A-Za-z0-9_.-]/g, "\\$&")).join("|");
}

function bashValueCases(options: OptSpec[]): string[] {
  const out: string[] = [];
  for (const o of options) {
    if (o.value.kind === "none") continue;
    const pattern = bashCase(flagsOf(o));
    if (o.value.kind === "file") out.push(`      ${pattern}) _dray_files "$cur"; return ;;`);
    else if (o.value.kind === "choice") out.push(`      ${pattern}) _dray_words "$cur" ${sq(o.value.choices.join(" "))}; return ;;`);
    else out.push(`      ${pattern}) return ;;`);
  }
  return out;
}

function bashPositional(args: ArgSpec[]): string {
  if (args.some((a) => a.value.kind === "location")) return `_dray_locations "$cur"`;
  const choice = args.find((a) => a.value.kind === "choice");
  if (choice && choice.value.kind === "choice") return `_dray_words "$cur" ${sq(choice.value.choices.join(" "))}`;
  return "return";
}

function bashCommandBlock(c: CmdSpec): string {
  const flags = c.options.flatMap(flagsOf).join(" ");
  const valueCases = bashValueCases(c.options);
  return [
    `    ${bashCase([c.name, ...c.aliases])})`,
    ...(valueCases.length > 0 ? [`      case "$prev" in`, ...valueCases.map((l) => `  ${l}`), `      esac`] : []),
    `      if [[ $cur == -* ]]; then _dray_words "$cur" ${sq(flags)}; else ${bashPositional(c.args)}; fi`,
    `      ;;`,
  ].join("\n");
}

function bashScript(spec: ProgramSpec): string {
  const commandNames = spec.commands.flatMap((c) => [c.name, ...c.aliases]).join(" ");
  const globalFlags = spec.options.flatMap(flagsOf).join(" ");
  const fn = `_${spec.name}`;
  return `${header("#", "bash", spec.name)}# Load with: source completions/${spec.name}.bash  (or copy it to /usr/share/bash-completion/completions/${spec.name})

# Offer the words of $2 that start with $1.
_dray_words() {
  local w
  COMPREPLY=()
  for w in $2; do
    [[ $w == "$1"* ]] && COMPREPLY+=("$w")
  done
}

# Bash splits words at ':' (COMP_WORDBREAKS), but locations contain colons:
# candidates are computed for the whole word and the part already typed up to
# the last colon is removed again, as bash-completion's __ltrim_colon_completions does.
_dray_trim_colon() {
  local i prefix
  if [[ $1 == *:* && $COMP_WORDBREAKS == *:* ]]; then
    prefix=\${1%"\${1##*:}"}
    for i in "\${!COMPREPLY[@]}"; do
      COMPREPLY[i]=\${COMPREPLY[i]#"$prefix"}
    done
  fi
}

# File names (directories get a trailing slash and no space).
_dray_files() {
  local f
  COMPREPLY=()
  while IFS= read -r f; do
    [[ -d $f ]] && f+=/
    COMPREPLY+=("$f")
  done < <(compgen -f -- "$1")
  compopt -o nospace 2>/dev/null
}

_dray_locations() {
  local cur=$1 prefix rest f
  case $cur in
    oci:*|oci-archive:*|docker-archive:*)
      prefix=\${cur%%:*}:
      rest=\${cur#*:}
      COMPREPLY=()
      # oci: is a layout folder: folders only; an archive is a file, reached through folders.
      while IFS= read -r f; do
        [[ -d $f ]] && f+=/
        COMPREPLY+=("$prefix$f")
      done < <(if [[ $prefix == oci: ]]; then compgen -d -- "$rest"; else compgen -f -- "$rest"; fi)
      ;;
    *)
      _dray_words "$cur" ${sq(LOCATION_PREFIXES.join(" "))}
      ;;
  esac
  compopt -o nospace 2>/dev/null
  _dray_trim_colon "$cur"
}

${fn}() {
  local line cur prev cmd="" i
  local -a words
  # Rebuild the words from the line up to the cursor, without bash's ':' split.
  line=\${COMP_LINE:0:COMP_POINT}
  read -ra words <<<"$line"
  if [[ $line =~ [[:space:]]$ || \${#words[@]} -eq 0 ]]; then
    cur=""
  else
    cur=\${words[\${#words[@]}-1]}
    unset 'words[\${#words[@]}-1]'
  fi
  prev=""
  (( \${#words[@]} > 1 )) && prev=\${words[\${#words[@]}-1]}
  for (( i = 1; i < \${#words[@]}; i++ )); do
    if [[ \${words[i]} != -* ]]; then cmd=\${words[i]}; break; fi
  done
  case "$cmd" in
    "")
      if [[ $cur == -* ]]; then _dray_words "$cur" ${sq(globalFlags)}; else _dray_words "$cur" ${sq(commandNames)}; fi
      ;;
${spec.commands.map(bashCommandBlock).join("\n")}
  esac
}

complete -F ${fn} ${spec.name}
`;
}

// ---- zsh --------------------------------------------------------------------

/** Escapes text for inside an _arguments `[description]` or a `name:description` pair. */
function zshDesc(s: string): string {
  return s
    .replace(/\\/g, "\\\\")
    .replace(/'/g, "'\\''")
    .replace(/([[\]:])/g, "\\$1");
}

function zshValue(v: ValueKind, label: string): string {
  switch (v.kind) {
    case "none":
      return "";
    case "file":
      return `:${label}:_files`;
    case "choice":
      return `:${label}:(${v.choices.join(" ")})`;
    case "free":
      return `:${label}: `;
  }
}

function zshOption(o: OptSpec): string {
  const flags = flagsOf(o);
  const label = (o.long ?? o.short ?? "value").replace(/^-+/, "");
  const tail = `[${zshDesc(o.description)}]${zshValue(o.value, label)}`;
  // `*` lets an option repeat (--platform, --creds …): commander accepts repeats for all of them.
  if (flags.length === 2) return `'(${flags.join(" ")})'{${flags.join(",")}}'${tail}'`;
  return `'*${flags[0]}${tail}'`;
}

function zshArg(a: ArgSpec, index: number): string {
  const pos = a.variadic ? "*" : String(index + 1);
  switch (a.value.kind) {
    case "location":
      return `'${pos}:${a.name}:_dray_location'`;
    case "choice":
      return `'${pos}:${a.name}:(${a.value.choices.join(" ")})'`;
    case "free":
      return `'${pos}:${a.name}: '`;
  }
}

function zshScript(spec: ProgramSpec): string {
  const fn = `_${spec.name}`;
  const cmdList = spec.commands.flatMap((c) => [c.name, ...c.aliases].map((n) => `    '${zshDesc(n)}:${zshDesc(c.description)}'`));
  const cases = spec.commands.map((c) =>
    [
      `        ${[c.name, ...c.aliases].join("|")})`,
      `          _arguments -s \\`,
      ...c.options.map((o) => `            ${zshOption(o)} \\`),
      ...c.args.map((a, i) => `            ${zshArg(a, i)} \\`),
      `            && ret=0`,
      `          ;;`,
    ].join("\n"),
  );
  return `#compdef ${spec.name}
${header("#", "zsh", spec.name)}# Load with: source completions/${spec.name}.zsh after compinit, or put it on $fpath as _${spec.name}.

_dray_location() {
  if compset -P 'oci:'; then
    _files -/
  elif compset -P '(oci-archive|docker-archive):'; then
    _files
  else
    compadd -S '' -- ${LOCATION_PREFIXES.join(" ")}
  fi
}

${fn}() {
  local curcontext="$curcontext" state line ret=1
  typeset -A opt_args
  local -a commands
  commands=(
${cmdList.join("\n")}
  )
  _arguments -C \\
${spec.options.map((o) => `    ${zshOption(o)} \\`).join("\n")}
    '1: :->command' \\
    '*:: :->args' \\
    && ret=0
  case $state in
    command)
      _describe -t commands '${spec.name} command' commands && ret=0
      ;;
    args)
      case $line[1] in
${cases.join("\n")}
      esac
      ;;
  esac
  return ret
}

if [[ $funcstack[1] == ${fn} ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${spec.name}
fi
`;
}

// ---- fish -------------------------------------------------------------------

function fishQuote(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

function fishOption(prefix: string, o: OptSpec): string {
  const parts = [prefix];
  if (o.short) parts.push(`-s ${o.short.replace(/^-/, "")}`);
  if (o.long) parts.push(`-l ${o.long.replace(/^--/, "")}`);
  if (o.value.kind === "file") parts.push("-r -F");
  else if (o.value.kind === "choice") parts.push(`-x -a ${fishQuote(o.value.choices.join(" "))}`);
  else if (o.value.kind === "free") parts.push("-x");
  if (o.description) parts.push(`-d ${fishQuote(o.description)}`);
  return parts.join(" ");
}

function fishScript(spec: ProgramSpec): string {
  const n = spec.name;
  const lines: string[] = [];
  lines.push(`complete -c ${n} -f`);
  for (const o of spec.options) lines.push(fishOption(`complete -c ${n} -n __dray_needs_command`, o));
  for (const c of spec.commands) {
    for (const name of [c.name, ...c.aliases])
      lines.push(`complete -c ${n} -n __dray_needs_command -a ${fishQuote(name)} -d ${fishQuote(c.description)}`);
  }
  for (const c of spec.commands) {
    const cond = `-n ${fishQuote(`__fish_seen_subcommand_from ${[c.name, ...c.aliases].join(" ")}`)}`;
    for (const o of c.options) lines.push(fishOption(`complete -c ${n} ${cond}`, o));
    if (c.args.some((a) => a.value.kind === "location")) lines.push(`complete -c ${n} ${cond} -a '(__dray_locations)'`);
    for (const a of c.args)
      if (a.value.kind === "choice") lines.push(`complete -c ${n} ${cond} -a ${fishQuote(a.value.choices.join(" "))}`);
  }
  return `${header("#", "fish", n)}# Load with: source completions/${n}.fish  (or copy it to ~/.config/fish/completions/${n}.fish)

# True until a subcommand has been typed.
function __dray_needs_command
    set -l words (commandline -opc)
    for w in $words[2..-1]
        if not string match -q -- '-*' $w
            return 1
        end
    end
    return 0
end

# Location prefixes, or file names after a local prefix.
function __dray_locations
    set -l tok (commandline -ct)
    if string match -qr '^(oci|oci-archive|docker-archive):' -- $tok
        set -l prefix (string match -r '^[^:]+:' -- $tok)
        set -l rest (string replace -r '^[^:]+:' '' -- $tok)
        if test $prefix = oci:
            for f in (__fish_complete_directories $rest)
                echo $prefix$f
            end
        else
            for f in (__fish_complete_path $rest)
                echo $prefix$f
            end
        end
    else
        printf '%s\\n' ${LOCATION_PREFIXES.join(" ")}
    end
end

${lines.join("\n")}
`;
}
