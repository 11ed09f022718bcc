/**
 * `nla_meta.yaml` in the shapes the NLA release writes (fixtures from nla-release/generate.py,
 * which cites the release's lines), and sidecars that must be refused with the file and field.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManifestError } from '../../../src/worker/runtime/manifest-files';
import { checkNlaMeta, loadNlaMeta, type NlaMeta } from '../../../src/worker/runtime/nla-meta';

const RELEASE = path.join(import.meta.dirname, 'nla-release');
const qwen = (shape: string, role: 'av' | 'ar') => loadNlaMeta(path.join(RELEASE, 'qwen2.5-7b-L20', shape, role, 'nla_meta.yaml'));

const tmp = mkdtempSync(path.join(tmpdir(), 'confab-sidecar-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
/** A published Qwen AR sidecar with one edit, written to its own file. */
function edited(shape: string, role: 'av' | 'ar', change: (text: string) => string): string {
  const file = path.join(tmp, `${n++}-nla_meta.yaml`);
  writeFileSync(file, change(readFileSync(path.join(RELEASE, 'qwen2.5-7b-L20', shape, role, 'nla_meta.yaml'), 'utf8')));
  return file;
}
function refusal(run: () => unknown): ManifestError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestError);
    return err as ManifestError;
  }
  throw new Error('the sidecar was accepted');
}

const AV_TEMPLATE_START = 'You are a meticulous AI researcher conducting an important investigation into activation vectors from a language model.';

describe('the release training code\'s shape (write_model_sidecar)', () => {
  it('reads role actor as the AV, its actor template, and a null AR template', () => {
    const av = qwen('training', 'av');
    expect(av).toMatchObject({ role: 'av', dModel: 3584, injectionScale: 150, arTemplate: null, criticSuffixIds: null, layerFields: [] });
    expect(av.tokens).toEqual({ injectionChar: '㈎', injectionTokenId: 149705, leftNeighborId: 29, rightNeighborId: 522 });
    expect(av.avTemplate!.startsWith(AV_TEMPLATE_START)).toBe(true);
    // PyYAML folds the long template over several lines; the paragraphs come back intact.
    expect(av.avTemplate).toContain('describe the semantic content of that activation vector.\n\nWe will pass the vector');
    expect(av.avTemplate!.endsWith('<concept>{injection_char}</concept>\n\nPlease provide an explanation.')).toBe(true);
    expect(() => checkNlaMeta(av, 'av', 3584, 20)).not.toThrow();
  });

  it('reads role critic as the AR, its depth from critic.extraction_layer_index, and its suffix ids', () => {
    const ar = qwen('training', 'ar');
    expect(ar).toMatchObject({ role: 'ar', injectionScale: null, layerIndex: 20, criticSuffixIds: [1318, 29, 366, 1708, 29] });
    expect(ar.layerFields).toEqual([{ field: 'critic.extraction_layer_index', value: 20 }]);
    expect(ar.arTemplate).toBe('Summary of the following text: <text>{explanation}</text> <summary>');
    expect(ar.mseScale).toBeCloseTo(Math.sqrt(3584), 10);
    expect(() => checkNlaMeta(ar, 'ar', 3584, 20)).not.toThrow();
  });

  it('resolves the sqrt_d_model sentinel the release\'s loader accepts for a scale', () => {
    const file = edited('training', 'av', (t) => t.replace('injection_scale: 150.0', 'injection_scale: sqrt_d_model'));
    expect(loadNlaMeta(file).injectionScale).toBeCloseTo(Math.sqrt(3584), 10);
    const bad = edited('training', 'av', (t) => t.replace('injection_scale: 150.0', 'injection_scale: lots'));
    expect(refusal(() => loadNlaMeta(bad)).field).toBe('extraction.injection_scale');
  });

  it('reads schema 1\'s critic.num_hidden_layers as the AR depth', () => {
    expect(qwen('schema1', 'ar').layerFields).toEqual([{ field: 'critic.num_hidden_layers', value: 20 }]);
  });
});

describe('the published shape (the upload step and docs/inference.md)', () => {
  it('reads role av, the av template and the top-level extraction_layer_index', () => {
    const av = qwen('published', 'av');
    expect(av).toMatchObject({ role: 'av', injectionScale: 150, layerIndex: 20, arTemplate: null });
    expect(av.layerFields).toEqual([{ field: 'extraction_layer_index', value: 20 }]);
    expect(av.avTemplate).toBe(qwen('training', 'av').avTemplate);
  });

  it('reads role ar with both its layer and its depth', () => {
    const ar = qwen('published', 'ar');
    expect(ar.role).toBe('ar');
    expect(ar.layerFields).toEqual([
      { field: 'extraction_layer_index', value: 20 },
      { field: 'critic.extraction_layer_index', value: 20 },
    ]);
  });

  it('reads the documented AR: ar.num_hidden_layers, no injection token', () => {
    const ar = qwen('documented', 'ar');
    expect(ar).toMatchObject({ role: 'ar', tokens: null, mseScale: 59.87, criticSuffixIds: [1318, 29, 366, 1708, 29] });
    expect(ar.layerFields).toEqual([{ field: 'ar.num_hidden_layers', value: 20 }]);
    expect(() => checkNlaMeta(ar, 'ar', 3584, 20)).not.toThrow();
  });
});

describe('a layer or depth that disagrees with the subject is refused, naming the field', () => {
  const cases: Array<[string, 'av' | 'ar', string]> = [
    ['published', 'av', 'extraction_layer_index'],
    ['published', 'ar', 'extraction_layer_index'],
    ['training', 'ar', 'critic.extraction_layer_index'],
    ['schema1', 'ar', 'critic.num_hidden_layers'],
    ['documented', 'ar', 'ar.num_hidden_layers'],
  ];
  it.each(cases)('%s %s: %s', (shape, role, field) => {
    const meta = qwen(shape, role);
    const err = refusal(() => checkNlaMeta(meta, role, 3584, 19));
    expect(err.file).toBe(path.join(RELEASE, 'qwen2.5-7b-L20', shape, role, 'nla_meta.yaml'));
    expect(err.field).toBe(field);
    expect(err.message).toMatch(/is 20; the manifest's subject\.layer is 19$/);
  });

  it('a second layer field that disagrees with the first is caught too', () => {
    const file = edited('published', 'ar', (t) => t.replace('critic:\n  extraction_layer_index: 20', 'critic:\n  extraction_layer_index: 7'));
    expect(refusal(() => checkNlaMeta(loadNlaMeta(file), 'ar', 3584, 20)).message).toBe(`${file}: critic.extraction_layer_index: is 7; the manifest's subject.layer is 20`);
  });

  it('an AV folder holding the AR, and the other way round', () => {
    expect(refusal(() => checkNlaMeta(qwen('training', 'ar'), 'av', 3584, 20)).message).toMatch(/nla_meta\.yaml: role: is the AR's; this folder is the AV$/);
    expect(refusal(() => checkNlaMeta(qwen('published', 'av'), 'ar', 3584, 20)).message).toMatch(/role: is the AV's; this folder is the AR$/);
  });
});

describe('bad sidecars are refused with the file and the field', () => {
  const bad: Array<[string, string, 'av' | 'ar', (t: string) => string, string, RegExp]> = [
    ['an unknown role', 'training', 'ar', (t) => t.replace('role: critic', 'role: reconstructor'), 'role', /is "reconstructor"; allowed: av or actor \(the AV\), ar or critic \(the AR\)/],
    ['a missing role', 'training', 'ar', (t) => t.replace('role: critic\n', ''), 'role', /is missing; say av \(or actor\) for the AV, ar \(or critic\) for the AR/],
    ['a role of the wrong type', 'published', 'av', (t) => t.replace('role: av', 'role: [av]'), 'role', /must be a string: av, actor, ar or critic/],
    ['a dataset sidecar', 'published', 'av', (t) => t.replace('kind: nla_model', 'kind: nla_dataset'), 'kind', /a dataset sidecar describes training data/],
    ['a schema from the future', 'published', 'av', (t) => t.replace('schema_version: 2', 'schema_version: 3'), 'schema_version', /is 3; this worker reads versions 1 and 2/],
    ['schema 0', 'published', 'av', (t) => t.replace('schema_version: 2', 'schema_version: 0'), 'schema_version', /is 0; this worker reads versions 1 and 2/],
    ['a layer of the wrong type', 'published', 'av', (t) => t.replace('extraction_layer_index: 20', 'extraction_layer_index: twenty'), 'extraction_layer_index', /expected number, received string/],
    ['a negative depth', 'training', 'ar', (t) => t.replace('extraction_layer_index: 20', 'extraction_layer_index: -1'), 'critic.extraction_layer_index', />=0/],
    ['suffix ids that are not integers', 'training', 'ar', (t) => t.replace('- 1318', '- x'), 'tokens.critic_suffix_ids.0', /./],
    ['an injection char without its id', 'published', 'av', (t) => t.replace('  injection_token_id: 149705\n', ''), 'tokens.injection_token_id', /is missing; injection_char and injection_token_id go together/],
    ['no prompt_templates at all', 'documented', 'ar', (t) => t.replace(/^prompt_templates:\n.*\n/m, ''), 'prompt_templates', /./],
    ['two different texts for one template', 'training', 'ar', (t) => t.replace('prompt_templates:\n', 'prompt_templates:\n  ar: "<text>{explanation}</text>"\n'), 'prompt_templates.critic', /differs from prompt_templates\.ar; keep one of the two/],
  ];
  it.each(bad)('%s', (_, shape, role, change, field, message) => {
    const file = edited(shape, role, change);
    const err = refusal(() => loadNlaMeta(file));
    expect(err.file).toBe(file);
    expect(err.field).toBe(field);
    expect(err.message).toMatch(message);
  });

  it('duplicate keys, an empty file and a file that is not YAML', () => {
    const dup = edited('published', 'av', (t) => t.replace('role: av\n', 'role: av\nrole: ar\n'));
    expect(refusal(() => loadNlaMeta(dup)).message).toMatch(/is not valid YAML: .*unique/i);
    const empty = edited('published', 'av', () => '');
    expect(refusal(() => loadNlaMeta(empty)).message).toMatch(/nla_meta\.yaml: is empty or not a YAML mapping/);
    const garbage = edited('published', 'av', () => 'role: [av\n');
    expect(refusal(() => loadNlaMeta(garbage)).message).toMatch(/is not valid YAML/);
  });

  it('a missing template: the release writes null for the template a role does not use', () => {
    // The published AV writes `ar: null`; an AR sidecar with its template null has nothing to fill.
    const file = edited('training', 'ar', (t) => t.replace(/ {2}critic: 'Summary.*'\n/, '  critic: null\n'));
    const meta: NlaMeta = loadNlaMeta(file);
    const err = refusal(() => checkNlaMeta(meta, 'ar', 3584, 20));
    expect(err.message).toBe(`${file}: prompt_templates.ar: is missing (neither prompt_templates.ar nor prompt_templates.critic is set)`);
    const avFile = edited('published', 'av', (t) => t.replace(/ {2}av: 'You are[\s\S]*?explanation\.'\n/, ''));
    expect(refusal(() => checkNlaMeta(loadNlaMeta(avFile), 'av', 3584, 20)).field).toBe('prompt_templates.av');
  });

  it('a template without its placeholder, or with two', () => {
    const none = edited('training', 'ar', (t) => t.replace('<text>{explanation}</text>', '<text></text>'));
    expect(refusal(() => checkNlaMeta(loadNlaMeta(none), 'ar', 3584, 20)).message).toMatch(/prompt_templates\.ar: has no \{explanation\} placeholder$/);
    const two = edited('training', 'ar', (t) => t.replace('<text>{explanation}</text>', '<text>{explanation}</text>{explanation}'));
    expect(refusal(() => checkNlaMeta(loadNlaMeta(two), 'ar', 3584, 20)).message).toMatch(/has 2 \{explanation\} placeholders; exactly 1 is allowed$/);
  });
});
