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
  assert.throws(() => parseTemplate(t).render(summary), (e: unknown) => isDrayError(e, "E_USAGE") && pattern.test(e.message));
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
    assert.equal(render("{{range .Missing}}x{{end}}"), "");
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
    assert.equal(render("<{{.Nope}}><{{.Env}}>"), "<><>");
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
    usageError("{{json .A .B}}", /json takes 1 argument/);
  });
});

describe("parseFormat", () => {
  it("knows text, json and templates", () => {
    assert.deepEqual(parseFormat(undefined), { kind: "text" });
    assert.deepEqual(parseFormat(undefined, "json"), { kind: "json" });
    assert.deepEqual(parseFormat("json"), { kind: "json" });
    assert.equal(parseFormat("{{.Digest}}").kind, "template");
    assert.throws(() => parseFormat("yaml"), (e: unknown) => isDrayError(e, "E_USAGE"));
  });
});
