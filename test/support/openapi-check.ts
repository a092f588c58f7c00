import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { expect } from 'vitest';

export { Validator } from '@seriousme/openapi-schema-validator';

/** The parts of an OpenAPI document the checks read. */
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, { get: { parameters: any[]; responses: Record<string, { content?: Record<string, { schema: object }> }> } }>;
  components: { schemas: Record<string, object> };
}

/**
 * A checker of real answers against an OpenAPI document: the JSON schema of
 * `path`'s response for `status` (draft 2020-12, OpenAPI 3.1's dialect),
 * compiled by ajv with the document's components; a mismatch fails the test
 * with ajv's errors.
 */
export function openApiChecker(document: OpenApiDocument): (path: string, status: number, body: unknown) => void {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  ajv.addSchema({ $id: 'openapi.json', components: document.components }, 'openapi.json');
  return (path, status, body) => {
    const operation = document.paths[path]?.get;
    expect(operation, `the document has GET ${path}`).toBeDefined();
    const response = operation!.responses[String(status)];
    expect(response, `GET ${path} documents a ${status}`).toBeDefined();
    const schema = response!.content?.['application/json']?.schema as { $ref?: string } | undefined;
    expect(schema, `GET ${path} ${status} has a JSON schema`).toBeDefined();
    const validate = schema!.$ref ? ajv.getSchema(`openapi.json${schema!.$ref}`)! : ajv.compile(schema!);
    const valid = validate(body);
    expect(valid ? [] : validate.errors, `GET ${path} ${status}: ${JSON.stringify(body).slice(0, 300)}`).toEqual([]);
  };
}

/** One CSV line (RFC 4180) split into its cells. */
export function parseCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i]!;
    if (quoted) {
      if (char === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      cells.push(cell);
      cell = '';
    } else cell += char;
  }
  cells.push(cell);
  return cells;
}
