import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isDrayError } from "../../src/errors.js";
import { Digest } from "../../src/oci/digest.js";
import { formatValue, parseFormat, parseTemplate } from "../../src/cli/output.js";

const summary = {
  Name: "127.0.0.1:5000/hello",
  Digest: Digest.of("x"),
  Os: "linux",
  Architecture: "arm64",
  Variant: "v8",
  Labels: { b: "2", a: "1 & <x>" },
  Layers: ["sha256:aa", "sha256:bb"],
  LayersData: [
    { MIMEType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: "sha256:aa", Size: 10, Annotations: null },
    { MIMEType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: "sha256:bb", Size: 20, Annotations: { k: "v" } },
  ],
  Env: null,
  Created: null,
};

const render = (t: string, data: unknown = summary): string => parseTemplate(t).render(data);

function usageError(t: string, pattern: RegExp): void {
  assert.throws(
    () => parseTemplate(t).render(summary),
    (e: unknown) => isDrayError(e, "E_USAGE") && pattern.test(e.message),
  );
}

describe("template subset", () => {
  it("prints fields, nested fields and text around them", () => {
    assert.equal(render("{{.Digest}}"), Digest.of("x").toString());
    assert.equal(render("{{.Os}}/{{.Architecture}}"), "linux/arm64");
    assert.equal(render("{{ .Labels.a }}"), "1 & <x>");
    assert.equal(render("name={{.Name}};"), "name=127.0.0.1:5000/hello;");
  });

  it("ranges over arrays with . as the element, and over objects by sorted key", () => {
    assert.equal(render("{{range .Layers}}{{.}}\n{{end}}"), "sha256:aa\nsha256:bb\n");
    assert.equal(render("{{range .LayersData}}{{.Digest}}={{.Size}} {{end}}"), "sha256:aa=10 sha256:bb=20 ");
    assert.equal(render("{{range .Labels}}[{{.}}]{{end}}"), "[1 & <x>][2]");
    assert.equal(render("{{range .Env}}x{{else}}no env{{end}}"), "no env");
    assert.equal(render("{{range .Created}}x{{end}}"), "");
  });

  it("json, index, len, print and pipes", () => {
    assert.equal(render("{{json .Labels}}"), '{"b":"2","a":"1 & <x>"}');
    assert.equal(render("{{.Labels | json}}"), '{"b":"2","a":"1 & <x>"}');
    assert.equal(render("{{json .Env}}"), "null");
    assert.equal(render('{{index .Labels "b"}}'), "2");
    assert.equal(render("{{index .Layers 1}}"), "sha256:bb");
    assert.equal(render("{{len .Layers}}"), "2");
    assert.equal(render('{{print .Os "-" .Architecture}}'), "linux-arm64");
    assert.equal(render('{{"a\\tb"}}{{`raw\\n`}}'), "a\tbraw\\n");
  });

  it("if/else uses Go's emptiness rules", () => {
    assert.equal(render("{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}"), "linux/arm64/v8");
    assert.equal(render("{{if .Env}}env{{else}}none{{end}}"), "none");
    assert.equal(render("{{if .Layers}}{{len .Layers}} layers{{end}}"), "2 layers");
    assert.equal(render("{{if .Created}}x{{else}}no date{{end}}"), "no date");
  });

  it("prints arrays and maps the way Go's %v does; missing and null print nothing", () => {
    assert.equal(render("{{.Layers}}"), "[sha256:aa sha256:bb]");
    assert.equal(render("{{.Labels}}"), "map[a:1 & <x> b:2]");
    assert.equal(render("<{{.Env}}><{{.Env.X}}>"), "<><>");
    assert.equal(render("<{{.Labels.nope}}>"), "<>", "a user-keyed map (labels) gives nothing for an absent key");
    assert.equal(formatValue(3), "3");
  });

  it("trim markers and comments", () => {
    assert.equal(render("a  {{- .Os -}}  \n b"), "alinuxb");
    assert.equal(render("a{{/* note */}}b"), "ab");
    assert.equal(render("{{range .Layers -}}\n  {{.}}\n{{- end}}"), "sha256:aasha256:bb");
  });

  it("rejects malformed templates with a usage error", () => {
    usageError("{{.Digest", /unclosed action/);
    usageError("{{range .Layers}}x", /missing \{\{end\}\}/);
    usageError("{{end}}", /unexpected \{\{end\}\}/);
    usageError("{{nosuch .X}}", /function "nosuch" not defined/);
    usageError('{{"abc}}', /unterminated string/);
    usageError("{{range .Os}}x{{end}}", /can't iterate/);
    usageError("{{json .Os .Os}}", /json takes 1 argument/);
  });
});

describe("template: Go's missingkey=error and the functions docker and skopeo users write (issue 19, bug 3)", () => {
  it("a field the value lacks is a usage error naming the field", () => {
    usageError("{{.Nope}}", /no field "Nope" in the output \(it has Name, Digest/);
    usageError("{{.digest}}", /no field "digest"/);
    usageError("{{range .LayersData}}{{.Sha}}{{end}}", /no field "Sha"/);
    usageError("{{.Os.Name}}", /can't evaluate field Name in the string "linux"/);
  });

  it("check() walks every branch over a shape, so a misspelt field fails before any work", () => {
    const t = parseTemplate("{{if .Variant}}{{.Variant}}{{else}}{{.Archtecture}}{{end}}");
    assert.equal(t.render(summary), "v8", "render takes only the branch it needs");
    assert.throws(() => t.check(summary), /no field "Archtecture"/);
    assert.throws(() => parseTemplate("{{range .Env}}{{.X}}{{end}}").check({ Env: [{ Y: 1 }] }), /no field "X"/);
    parseTemplate("{{with .Variant}}/{{.}}{{end}}{{range $i, $l := .Layers}}{{$i}}{{$l}}{{end}}").check(summary);
  });

  it("printf, join, upper, lower", () => {
    assert.equal(render('{{printf "%s/%s" .Os .Architecture}}'), "linux/arm64");
    assert.equal(render('{{printf "%-6s|%3d|%q|%v|%%" .Os 7 .Os .Layers}}'), 'linux |  7|"linux"|[sha256:aa sha256:bb]|%');
    assert.equal(render('{{join .Layers ","}}'), "sha256:aa,sha256:bb");
    assert.equal(render("{{upper .Os}} {{lower .Variant | upper}} {{lower `AbC`}}"), "LINUX V8 abc");
  });

  it("eq, ne, lt, and, or, not, with parentheses", () => {
    assert.equal(render('{{if eq .Os "linux"}}yes{{end}}'), "yes");
    assert.equal(render('{{if eq .Os "windows" "linux"}}one of{{end}}'), "one of");
    assert.equal(render('{{if ne .Architecture "amd64"}}not amd64{{end}}'), "not amd64");
    assert.equal(render("{{if lt (len .Layers) 3}}few{{end}}"), "few");
    assert.equal(render('{{if and (eq .Os "linux") (not .Env)}}ok{{end}}'), "ok");
    assert.equal(render("{{or .Env .Os}}"), "linux");
    assert.equal(render("{{and .Os .Env}}"), "");
  });

  it("with sets dot and skips empty values; range $i, $x := declares variables", () => {
    assert.equal(render("{{with .Variant}}/{{.}}{{end}}"), "/v8");
    assert.equal(render("{{with .Env}}x{{else}}none{{end}}"), "none");
    assert.equal(render("{{range $i, $l := .Layers}}{{$i}}:{{$l}} {{end}}"), "0:sha256:aa 1:sha256:bb ");
    assert.equal(render("{{range $l := .LayersData}}{{$l.Size}},{{end}}"), "10,20,");
    assert.equal(render("{{range .Layers}}{{$.Os}}{{end}}"), "linuxlinux");
    assert.equal(render("{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}"), "a=1 & <x>;b=2;");
  });

  it("an unknown function names itself; a bad declaration is refused", () => {
    usageError("{{ toJson .Labels }}", /function "toJson" not defined/);
    usageError("{{range $i, $j, $k := .Layers}}{{end}}", /bad range declaration/);
    usageError("{{$nope}}", /undefined variable "\$nope"/);
  });
});

describe("parseFormat", () => {
  it("knows text, json and templates", () => {
    assert.deepEqual(parseFormat(undefined), { kind: "text" });
    assert.deepEqual(parseFormat(undefined, "json"), { kind: "json" });
    assert.deepEqual(parseFormat("json"), { kind: "json" });
    assert.equal(parseFormat("{{.Digest}}").kind, "template");
    assert.throws(
      () => parseFormat("yaml"),
      (e: unknown) => isDrayError(e, "E_USAGE"),
    );
  });
});
