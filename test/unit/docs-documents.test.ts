import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLOSE_REASONS, CloseCode } from '../../src/shared/close-codes.js';
import { ERROR_CODES } from '../../src/shared/errors.js';
import { AsyncApiDoc, docPath, isObject, OpenApiDoc, refsIn, resolvePointer, templateMatches, type Json, type JsonObject } from '../helpers/api-docs.js';

/**
 * The project's reference documents parse, are structurally valid AsyncAPI 3.0 and OpenAPI 3.1
 * (required fields, every $ref resolves, operations point into their channel), their schemas
 * compile, and docs/protocol.md documents every error code and close code the server defines.
 */

const protocolMd = readFileSync(docPath('protocol.md'), 'utf8');
const readme = readFileSync(docPath('../README.md'), 'utf8');

/** The text of the `## title` section of a markdown document, up to the next `## `. */
function section(markdown: string, title: string): string {
  const start = markdown.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`no section "${title}"`);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

function obj(v: Json | undefined, what: string): JsonObject {
  if (!isObject(v)) throw new Error(`${what} must be an object`);
  return v;
}

function unresolved(doc: JsonObject): string[] {
  return refsIn(doc)
    .filter(({ ref }) => resolvePointer(doc, ref) === undefined)
    .map(({ at, ref }) => `${at}: ${ref}`);
}

describe('docs/asyncapi.yaml', () => {
  const api = new AsyncApiDoc();
  const doc = api.doc;

  it('has the required top-level fields of AsyncAPI 3.0', () => {
    expect(doc['asyncapi']).toBe('3.0.0');
    const info = obj(doc['info'], 'info');
    expect(typeof info['title']).toBe('string');
    expect(typeof info['version']).toBe('string');
    expect(Object.keys(obj(doc['channels'], 'channels'))).toEqual(['ws', 'socketio']);
  });

  it('resolves every $ref', () => {
    expect(refsIn(doc).length).toBeGreaterThan(100);
    expect(unresolved(doc)).toEqual([]);
  });

  it('has channels with an address and messages, and operations into their own channel', () => {
    const channels = obj(doc['channels'], 'channels');
    for (const [name, channel] of Object.entries(channels)) {
      const c = obj(channel, name);
      expect(typeof c['address']).toBe('string');
      expect(Object.keys(obj(c['messages'], `${name}.messages`)).length).toBeGreaterThan(0);
    }
    const operations = obj(doc['operations'], 'operations');
    for (const [name, value] of Object.entries(operations)) {
      const op = obj(value, name);
      expect(['send', 'receive'], name).toContain(op['action']);
      const channelRef = obj(op['channel'], `${name}.channel`)['$ref'];
      if (typeof channelRef !== 'string') throw new Error(`${name}: channel must be a $ref`);
      const messages = [op['messages'], isObject(op['reply']) ? op['reply']['messages'] : []].flat();
      expect(messages.length, name).toBeGreaterThan(0);
      for (const m of messages) expect(obj(m, name)['$ref'], name).toMatch(new RegExp(`^${channelRef}/messages/`));
    }
  });

  it('compiles every schema and message payload as JSON Schema (strict)', () => {
    expect(() => api.compileAll()).not.toThrow();
  });

  it('names exactly the error codes of src/shared/errors.ts', () => {
    const codes = resolvePointer(doc, '#/components/schemas/ErrorCode/enum');
    expect([...(codes as string[])].sort()).toEqual([...ERROR_CODES].sort());
  });
});

describe('docs/openapi.yaml', () => {
  const api = new OpenApiDoc();
  const doc = api.doc;

  it('has the required top-level fields of OpenAPI 3.1', () => {
    expect(doc['openapi']).toMatch(/^3\.1\.\d+$/);
    const info = obj(doc['info'], 'info');
    expect(typeof info['title']).toBe('string');
    expect(typeof info['version']).toBe('string');
    expect(Object.keys(obj(doc['paths'], 'paths')).length).toBeGreaterThan(10);
  });

  it('resolves every $ref', () => {
    expect(unresolved(doc)).toEqual([]);
  });

  it('gives every response a description and declares every path parameter', () => {
    for (const op of api.operations()) {
      for (const [status, response] of Object.entries(op.responses)) {
        expect(status, `${op.method} ${op.template}`).toMatch(/^([1-5]\d\d|default)$/);
        expect(typeof obj(response, status)['description'], `${op.method} ${op.template} ${status}`).toBe('string');
      }
      const item = obj(obj(doc['paths'], 'paths')[op.template], op.template);
      const params = [obj(item[op.method.toLowerCase()], op.template)['parameters'] ?? []].flat().map((p) => {
        const param = obj(p, op.template);
        return obj(typeof param['$ref'] === 'string' ? resolvePointer(doc, param['$ref']) : param, 'parameter');
      });
      for (const [, name] of op.template.matchAll(/\{([^}]+)\}/g)) {
        expect(params.some((p) => p['in'] === 'path' && p['name'] === name && p['required'] === true), `${op.template}: ${name}`).toBe(true);
      }
    }
  });

  it('compiles every schema as JSON Schema 2020-12 (strict)', () => {
    expect(() => api.compileAll()).not.toThrow();
  });

  it('matches paths to templates', () => {
    expect(templateMatches('/admin/rooms/{room}/presence', '/admin/rooms/lobby/presence')).toBe(true);
    expect(templateMatches('/admin/rooms/{room}/presence', '/admin/rooms/lobby/messages')).toBe(false);
    expect(templateMatches('/admin/rooms', '/admin/rooms/x')).toBe(false);
  });

  it('shares its chat message and member schemas with the AsyncAPI document', () => {
    const asyncapi = new AsyncApiDoc().doc;
    for (const name of ['ChatMessage', 'Member', 'Room', 'Cid', 'User']) {
      expect(resolvePointer(doc, `#/components/schemas/${name}`), name).toEqual(resolvePointer(asyncapi, `#/components/schemas/${name}`));
    }
  });
});

describe('docs/protocol.md', () => {
  it('documents every error code of src/shared/errors.ts', () => {
    const errors = section(protocolMd, 'Error codes');
    for (const code of ERROR_CODES) expect(errors, code).toMatch(new RegExp(`^\\| \`${code}\` \\|`, 'm'));
  });

  it('documents every close code of src/shared/close-codes.ts', () => {
    const closes = section(protocolMd, 'Close codes');
    const codes = Object.values(CloseCode);
    expect(Object.keys(CLOSE_REASONS).map(Number).sort()).toEqual([...codes].sort());
    for (const code of codes) expect(closes, String(code)).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
  });

  it('links only to anchors it has', () => {
    const anchors = new Set([...protocolMd.matchAll(/^#+ (.+)$/gm)].map(([, title]) => slug(title ?? '')));
    const links = [...protocolMd.matchAll(/\]\(#([^)]+)\)/g)].map(([, a]) => a ?? '');
    expect(links.length).toBeGreaterThan(10);
    expect(links.filter((a) => !anchors.has(a))).toEqual([]);
  });
});

describe('README.md', () => {
  it('links the reference documents', () => {
    for (const file of ['docs/protocol.md', 'docs/admin-api.md', 'docs/asyncapi.yaml', 'docs/openapi.yaml', 'docs/operations.md', 'docs/deploying.md', 'docs/webhooks.md']) {
      expect(readme, file).toContain(`](${file})`);
    }
  });
});

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function slug(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}
