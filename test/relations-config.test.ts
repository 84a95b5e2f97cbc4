import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadCollectionDefinitions } from '../src/config/collection-definition.js';
import { parseConfig } from '../src/config/resolve-config.js';
import { isVectorsyncError } from '../src/errors.js';
import { catalogCollection, createCatalogTables } from './helpers/catalog-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

/** Relations and relation fields are checked against the live schema, each problem named. */
describe('relations: config checked against the live schema', () => {
  let testDb: TestDatabase;
  before(async () => {
    testDb = await createTestDatabase('relations_config');
    await createCatalogTables(testDb.db);
    await testDb.db.query('CREATE TABLE tags (product_id int, label text)');
  });
  after(() => testDb?.drop());

  const problems = async (change: (collection: ReturnType<typeof catalogCollection>) => unknown) => {
    const collection = structuredClone(catalogCollection('outbox'));
    change(collection);
    const config = parseConfig({
      databaseUrl: testDb.url,
      embedders: { default: { provider: 'hash', dimensions: 32 } },
      stores: { main: { provider: 'pgvector' } },
      collections: { catalog: collection },
    });
    try {
      await loadCollectionDefinitions(testDb.db, config);
    } catch (error) {
      assert.ok(isVectorsyncError(error, 'CONFIG_INVALID'), String(error));
      return (error.details.problems as string[]).join('\n');
    }
    return '';
  };

  it('accepts the catalog', async () => {
    assert.equal(await problems(() => undefined), '');
  });

  it('names unknown relations, tables and columns, with suggestions', async () => {
    const text = await problems((collection) => {
      collection.text = '{{name}} {{brnd.name}} {{variants.colour}}';
      collection.relations.reviews.table = 'review';
    });
    assert.match(
      text,
      /collections\.catalog\.text: "brnd\.name" names no relation "brnd".*did you mean "brand"/,
    );
    assert.match(
      text,
      /"variants\.colour": column "colour" does not exist in public\.variants.*did you mean "color"/,
    );
    assert.match(
      text,
      /collections\.catalog\.relations\.reviews\.table: table public\.review does not exist/,
    );
  });

  it('refuses joins that cannot hold: types, uniqueness, keys', async () => {
    const text = await problems((collection) => {
      (collection.relations.brand as Record<string, unknown>).references = 'name';
      (collection.relations as Record<string, unknown>).tags = {
        table: 'tags',
        kind: 'many',
        foreignKey: 'product_id',
      };
      collection.keywordFields.push('tags.label');
    });
    assert.match(text, /relations\.brand: "brand_id" \(integer\) and "name" \(text\) cannot be joined/);
    assert.match(text, /relations\.brand\.references: column "name" is not unique in public\.brands/);
    assert.match(text, /relations\.tags\.table: public\.tags has no primary key/);
  });

  it('refuses a many relation on a non-unique owner column (it would join across tenants) and over-long fields', async () => {
    const text = await problems((collection) => {
      (collection.relations.variants as Record<string, unknown>).references = 'tenant_id';
      (collection.relations as Record<string, unknown>).a_relation_name_that_goes_on_and_on = {
        table: 'brands',
        kind: 'one',
        foreignKey: 'brand_id',
      };
      collection.keywordFields.push('a_relation_name_that_goes_on_and_on.name');
    });
    assert.match(
      text,
      /relations\.variants\.references: column "tenant_id" is not unique in public\.products/,
    );
    assert.doesNotMatch(text, /longer than 63 bytes/, 'a 40-byte key is fine');
    const long = await problems((collection) => {
      const outer = 'category_relation_with_a_long_name_abcde';
      const inner = 'parent_relation_with_a_long_name_abcdefg';
      (collection.relations as Record<string, unknown>)[outer] = {
        table: 'categories',
        kind: 'one',
        foreignKey: 'category_id',
        relations: { [inner]: { table: 'categories', kind: 'one', foreignKey: 'parent_id' } },
      };
      collection.keywordFields.push(`${outer}.${inner}.name`);
    });
    assert.match(long, /is longer than 63 bytes/);
  });

  it('refuses aggregates that mean nothing, paths too deep, and unnamed payload paths', async () => {
    const text = await problems((collection) => {
      collection.keywordFields.push('brand.name | distinct', 'name | count', 'category.parent.x.name');
      (collection.payloadFields as unknown[]).push('brand.name');
    });
    assert.match(text, /"brand\.name\|distinct": distinct applies to a list/);
    assert.match(text, /"name\|count" names no relation "name"/);
    assert.match(text, /goes 3 relations deep; at most 2/);
    assert.match(text, /payloadFields: "brand\.name" is not a column; name a relation field's payload key/);
  });
});
