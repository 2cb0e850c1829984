import * as client from '@kubernetes/client-node';

interface Attribute {
  readonly baseName: string;
  readonly type: string;
}
type Model = { getAttributeTypeMap(): Attribute[] };

const models = client as unknown as Record<string, Partial<Model> | undefined>;

/**
 * The OpenAPI schema kubernetes-models validates against has no `additionalProperties: false`, so a
 * misspelt field passes it and the API server silently drops it. @kubernetes/client-node's generated
 * models list every field of every type, so walking an object against them finds fields the API does not know.
 * @returns the JSON paths of unknown fields, or an error when the kind has no model.
 */
export function unknownFields(object: { apiVersion: string; kind: string }): string[] {
  const version = object.apiVersion.split('/').at(-1) ?? '';
  const typeName = `${version.charAt(0).toUpperCase()}${version.slice(1)}${object.kind}`;
  if (models[typeName]?.getAttributeTypeMap === undefined) throw new Error(`no @kubernetes/client-node model ${typeName}`);
  return walk(object, typeName, '');
}

function walk(value: unknown, type: string, path: string): string[] {
  const array = /^Array<(.+)>$/.exec(type);
  if (array?.[1] !== undefined) {
    const item = array[1];
    return Array.isArray(value) ? value.flatMap((element, i) => walk(element, item, `${path}[${i}]`)) : [];
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map?.[1] !== undefined) {
    const entry = map[1];
    return isObject(value) ? Object.entries(value).flatMap(([key, element]) => walk(element, entry, `${path}.${key}`)) : [];
  }
  const model = models[type];
  if (model?.getAttributeTypeMap === undefined || !isObject(value)) return [];
  const attributes = new Map(model.getAttributeTypeMap().map((attribute) => [attribute.baseName, attribute.type]));
  return Object.entries(value).flatMap(([key, element]) => {
    const fieldType = attributes.get(key);
    return fieldType === undefined ? [`${path}.${key}`] : walk(element, fieldType, `${path}.${key}`);
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
