import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

/**
 * The project's API documents (docs/asyncapi.yaml, docs/openapi.yaml) as validators: real
 * frames and HTTP answers are checked against their schemas, and every message or response
 * that validated something is recorded, so a test can tell which ones it never exercised.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));

// ajv-formats is CommonJS: depending on the loader, its default import is the plugin or holds it as `default`.
type FormatsPlugin = typeof addFormatsModule.default;
const addFormats: FormatsPlugin = typeof addFormatsModule === 'function' ? addFormatsModule : addFormatsModule.default;

export function docPath(name: string): string {
  return `${DOCS}${name}`;
}

export function loadDoc(name: string): JsonObject {
  const value: unknown = parse(readFileSync(docPath(name), 'utf8'));
  if (!isObject(value)) throw new Error(`${name} is not a YAML mapping`);
  return value;
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value a local JSON pointer (`#/a/b`) names in `doc`, or undefined. */
export function resolvePointer(doc: Json, ref: string): Json | undefined {
  if (!ref.startsWith('#')) return undefined;
  let node: Json | undefined = doc;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) node = node[Number(part)];
    else if (isObject(node)) node = Object.prototype.hasOwnProperty.call(node, part) ? node[part] : undefined;
    else return undefined;
  }
  return node;
}

/** Every `$ref` string in `doc`, with where it sits. */
export function refsIn(node: Json, at = '#'): { at: string; ref: string }[] {
  if (Array.isArray(node)) return node.flatMap((v, i) => refsIn(v, `${at}/${i}`));
  if (!isObject(node)) return [];
  return Object.entries(node).flatMap(([k, v]) => (k === '$ref' && typeof v === 'string' ? [{ at, ref: v }] : refsIn(v, `${at}/${k}`)));
}

/** A copy of `node` whose `#/components/schemas/X` refs point into the schema registered as `id`. */
function rebase(node: Json, id: string, defs: string): Json {
  if (Array.isArray(node)) return node.map((v) => rebase(v, id, defs));
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/') ? `${id}#/${defs}/${v.slice('#/components/schemas/'.length)}` : rebase(v, id, defs);
  }
  return out;
}

function schemasOf(doc: JsonObject): JsonObject {
  const components = doc['components'];
  const schemas = isObject(components) ? components['schemas'] : undefined;
  if (!isObject(schemas)) throw new Error('the document has no components.schemas');
  return schemas;
}

function describeErrors(fn: ValidateFunction): string {
  return JSON.stringify(fn.errors?.slice(0, 5) ?? []);
}

/** docs/asyncapi.yaml: one validator per component message, over its payload schema (JSON Schema draft 7). */
export class AsyncApiDoc {
  readonly doc = loadDoc('asyncapi.yaml');
  readonly exercised = new Set<string>();
  private readonly ajv = new Ajv({ strict: true, strictTypes: false, strictRequired: false, allErrors: true, allowUnionTypes: true });
  private readonly validators = new Map<string, ValidateFunction>();

  constructor() {
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: 'asyncapi.json', definitions: rebase(schemasOf(this.doc), 'asyncapi.json', 'definitions') });
  }

  /** The keys of components.messages. */
  messageNames(): string[] {
    const components = this.doc['components'];
    const messages = isObject(components) ? components['messages'] : undefined;
    return isObject(messages) ? Object.keys(messages) : [];
  }

  /** Compiles every component schema and message payload (strict: an unknown keyword throws). */
  compileAll(): void {
    for (const name of Object.keys(schemasOf(this.doc))) this.ajv.getSchema(`asyncapi.json#/definitions/${name}`);
    for (const name of this.messageNames()) this.validator(name);
  }

  private validator(message: string): ValidateFunction {
    let fn = this.validators.get(message);
    if (!fn) {
      const payload = resolvePointer(this.doc, `#/components/messages/${message}/payload`);
      if (payload === undefined) throw new Error(`docs/asyncapi.yaml has no message ${message}`);
      fn = this.ajv.compile(rebase(payload, 'asyncapi.json', 'definitions') as object);
      this.validators.set(message, fn);
    }
    return fn;
  }

  /** Throws unless `value` is a valid payload of `message`; records the message as exercised. */
  check(message: string, value: unknown): void {
    if (!this.messageNames().includes(message)) throw new Error(`docs/asyncapi.yaml has no message ${message} (for ${JSON.stringify(value)})`);
    const fn = this.validator(message);
    if (!fn(value)) throw new Error(`${message} does not match docs/asyncapi.yaml: ${JSON.stringify(value)}: ${describeErrors(fn)}`);
    this.exercised.add(message);
  }

  /** Throws if `value` is a valid payload of `message` (a bad frame the schema must refuse too). */
  refuses(message: string, value: unknown): void {
    if (this.validator(message)(value)) throw new Error(`${message} of docs/asyncapi.yaml accepts the bad frame ${JSON.stringify(value)}`);
  }
}

/** A documented operation of docs/openapi.yaml matched by method and path. */
interface Operation {
  template: string;
  method: string;
  responses: JsonObject;
}

/** docs/openapi.yaml: validates real answers (status, content type, body) against its responses (JSON Schema 2020-12). */
export class OpenApiDoc {
  readonly doc = loadDoc('openapi.yaml');
  /** `METHOD template status` of every response that validated an answer. */
  readonly exercised = new Set<string>();
  private readonly ajv = new Ajv2020({ strict: true, strictTypes: false, strictRequired: false, allErrors: true, allowUnionTypes: true });

  constructor() {
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: 'openapi.json', $defs: rebase(schemasOf(this.doc), 'openapi.json', '$defs') });
  }

  compileAll(): void {
    for (const name of Object.keys(schemasOf(this.doc))) this.ajv.getSchema(`openapi.json#/$defs/${name}`);
  }

  operations(): Operation[] {
    const paths = this.doc['paths'];
    if (!isObject(paths)) return [];
    return Object.entries(paths).flatMap(([template, item]) =>
      isObject(item)
        ? Object.entries(item).flatMap(([method, op]) => (isObject(op) && isObject(op['responses']) ? [{ template, method: method.toUpperCase(), responses: op['responses'] }] : []))
        : [],
    );
  }

  /** Every documented `METHOD template status`. */
  responseKeys(): string[] {
    return this.operations().flatMap((op) => Object.keys(op.responses).map((status) => `${op.method} ${op.template} ${status}`));
  }

  /** Throws unless the answer to `method path` is a documented response of its operation. */
  check(method: string, path: string, status: number, contentType: string, body: string): void {
    const pathname = path.split('?')[0] ?? path;
    const op = this.operations().find((o) => o.method === method && templateMatches(o.template, pathname));
    if (!op) throw new Error(`docs/openapi.yaml has no operation ${method} ${pathname}`);
    const response = op.responses[String(status)] ?? op.responses['default'];
    if (!isObject(response)) throw new Error(`docs/openapi.yaml: ${method} ${op.template} has no response ${status} (body ${body.slice(0, 200)})`);
    const content = response['content'];
    if (isObject(content)) {
      const mediaType = contentType.split(';')[0]?.trim() ?? '';
      const media = content[mediaType];
      if (!isObject(media)) throw new Error(`docs/openapi.yaml: ${method} ${op.template} ${status} has no content ${mediaType}`);
      if (isObject(media['schema'])) {
        const value: unknown = mediaType === 'application/json' ? JSON.parse(body) : body;
        const fn = this.ajv.compile(rebase(media['schema'], 'openapi.json', '$defs') as object);
        if (!fn(value)) throw new Error(`${method} ${path} ${status} does not match docs/openapi.yaml: ${body.slice(0, 300)}: ${describeErrors(fn)}`);
      }
    } else if (body.length > 0) {
      throw new Error(`docs/openapi.yaml: ${method} ${op.template} ${status} documents no body, got ${body.slice(0, 200)}`);
    }
    this.exercised.add(`${method} ${op.template} ${status}`);
  }
}

/** `/admin/rooms/{room}/presence` matches `/admin/rooms/lobby/presence`. */
export function templateMatches(template: string, path: string): boolean {
  const pattern = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+');
  return new RegExp(`^${pattern}$`).test(path);
}
