import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { createServer } from '../src/server.js';
import { sample, startApi } from './helpers.js';

const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

function assertError(res, status, code) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(typeof res.json?.error?.message, 'string', `error.message missing in ${res.text}`);
  assert.equal(res.json.error.code, code, `unexpected error code in ${res.text}`);
}

function detailFields(res) {
  assert.ok(Array.isArray(res.json?.error?.details), `error.details missing in ${res.text}`);
  return res.json.error.details.map((d) => d.field);
}

async function listAll(api, query = '') {
  const seen = [];
  let cursor = null;
  for (let page = 0; page < 100; page++) {
    const sep = query ? '&' : '';
    const path = `/bookmarks?${query}${cursor ? `${sep}cursor=${encodeURIComponent(cursor)}` : ''}`;
    const res = await api.request('GET', path);
    assert.equal(res.status, 200, res.text);
    seen.push(...res.json.items);
    cursor = res.json.nextCursor;
    if (cursor === null) return seen;
  }
  throw new Error('pagination did not terminate');
}

describe('POST /bookmarks', () => {
  it('creates a bookmark', async (t) => {
    const api = await startApi(t);
    const res = await api.request('POST', '/bookmarks', {
      json: { url: 'https://nodejs.org/api/http.html', title: 'Node HTTP docs', tags: ['node', 'docs'] },
    });
    assert.equal(res.status, 201, res.text);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);

    const b = res.json;
    assert.equal(typeof b.id, 'string');
    assert.ok(b.id.length > 0);
    assert.equal(res.headers.get('location'), `/bookmarks/${encodeURIComponent(b.id)}`);
    assert.equal(b.url, 'https://nodejs.org/api/http.html');
    assert.equal(b.title, 'Node HTTP docs');
    assert.deepEqual(b.tags, ['node', 'docs']);
    assert.match(b.createdAt, ISO_DATE);
    assert.equal(b.updatedAt, b.createdAt);
    assert.deepEqual(Object.keys(b).sort(), ['createdAt', 'id', 'tags', 'title', 'updatedAt', 'url']);
  });

  it('defaults tags to an empty list', async (t) => {
    const api = await startApi(t);
    const b = await api.create(sample(1));
    assert.deepEqual(b.tags, []);
  });

  it('normalizes the URL, the title and the tags', async (t) => {
    const api = await startApi(t);
    const b = await api.create({
      url: 'HTTPS://Example.COM',
      title: '  Example  ',
      tags: ['Work', ' reading ', 'work', 'to-read'],
    });
    assert.equal(b.url, 'https://example.com/');
    assert.equal(b.title, 'Example');
    assert.deepEqual(b.tags, ['work', 'reading', 'to-read']);
  });

  it('accepts values at the limits', async (t) => {
    const api = await startApi(t);
    const url = `https://example.com/${'a'.repeat(2048 - 'https://example.com/'.length)}`;
    assert.equal(url.length, 2048);
    const tags = Array.from({ length: 10 }, (_, i) => `tag-${i}`);
    tags[0] = 'x'.repeat(30);
    const b = await api.create({ url, title: 't'.repeat(200), tags });
    assert.equal(b.url, url);
    assert.equal(b.tags.length, 10);
  });

  it('accepts a JSON content type with parameters', async (t) => {
    const api = await startApi(t);
    const res = await api.request('POST', '/bookmarks', {
      json: sample(1),
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    assert.equal(res.status, 201, res.text);
  });

  it('rejects bodies that are not JSON with 415 or 400', async (t) => {
    const api = await startApi(t);
    assertError(
      await api.request('POST', '/bookmarks', { body: JSON.stringify(sample(1)) }), // text/plain
      415,
      'unsupported_media_type',
    );
    assertError(
      await api.request('POST', '/bookmarks', { body: Buffer.from(JSON.stringify(sample(1))) }), // no type
      415,
      'unsupported_media_type',
    );
    assertError(
      await api.request('POST', '/bookmarks', {
        body: '{"url": "https://example.com", "title": ',
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'invalid_json',
    );
    assertError(
      await api.request('POST', '/bookmarks', { body: '', headers: { 'content-type': 'application/json' } }),
      400,
      'invalid_json',
    );
  });

  it('rejects JSON bodies that are not objects', async (t) => {
    const api = await startApi(t);
    for (const json of [[sample(1)], null, 'https://example.com', 42, true]) {
      assertError(await api.request('POST', '/bookmarks', { json }), 400, 'validation_error');
    }
  });

  it('rejects invalid fields, naming the field', async (t) => {
    const api = await startApi(t);
    const cases = [
      ['url', { title: 'x' }],
      ['url', { url: 42, title: 'x' }],
      ['url', { url: 'example.com/page', title: 'x' }],
      ['url', { url: 'ftp://example.com/file', title: 'x' }],
      ['url', { url: 'javascript:alert(1)', title: 'x' }],
      ['url', { url: `https://example.com/${'a'.repeat(2048)}`, title: 'x' }],
      ['title', { url: 'https://example.com' }],
      ['title', { url: 'https://example.com', title: '   ' }],
      ['title', { url: 'https://example.com', title: 't'.repeat(201) }],
      ['title', { url: 'https://example.com', title: ['x'] }],
      ['tags', { ...sample(1), tags: 'work' }],
      ['tags', { ...sample(1), tags: [42] }],
      ['tags', { ...sample(1), tags: ['hello world'] }],
      ['tags', { ...sample(1), tags: [''] }],
      ['tags', { ...sample(1), tags: ['x'.repeat(31)] }],
      ['tags', { ...sample(1), tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }],
      ['color', { ...sample(1), color: 'red' }],
      ['id', { ...sample(1), id: 'mine' }],
    ];
    for (const [field, json] of cases) {
      const res = await api.request('POST', '/bookmarks', { json });
      assertError(res, 400, 'validation_error');
      assert.ok(
        detailFields(res).some((f) => f === field || f.startsWith(`${field}[`)),
        `expected a detail for "${field}" when posting ${JSON.stringify(json).slice(0, 80)}, got ${res.text}`,
      );
    }
    const list = await api.request('GET', '/bookmarks');
    assert.deepEqual(list.json.items, [], 'nothing was stored');
  });

  it('reports every invalid field at once', async (t) => {
    const api = await startApi(t);
    const res = await api.request('POST', '/bookmarks', {
      json: { url: 'not a url', title: '', tags: 'x', extra: 1 },
    });
    assertError(res, 400, 'validation_error');
    const fields = detailFields(res);
    for (const field of ['url', 'title', 'tags', 'extra']) {
      assert.ok(fields.includes(field), `missing detail for ${field}: ${res.text}`);
    }
  });

  it('rejects a URL that is already bookmarked with 409', async (t) => {
    const api = await startApi(t);
    await api.create({ url: 'https://example.com/a', title: 'A' });
    assertError(
      await api.request('POST', '/bookmarks', { json: { url: 'HTTPS://EXAMPLE.com/a', title: 'A again' } }),
      409,
      'conflict',
    );
  });

  it('gives every bookmark a distinct id, even under concurrent requests', async (t) => {
    const api = await startApi(t);
    const created = await Promise.all(Array.from({ length: 30 }, (_, i) => api.create(sample(i))));
    assert.equal(new Set(created.map((b) => b.id)).size, 30);
    assert.equal((await listAll(api, 'limit=100')).length, 30);
  });
});

describe('GET /bookmarks/:id', () => {
  it('returns the bookmark', async (t) => {
    const api = await startApi(t);
    const created = await api.create(sample(1, { tags: ['a'] }));
    const res = await api.request('GET', `/bookmarks/${encodeURIComponent(created.id)}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, created);
  });

  it('returns 404 for an unknown id', async (t) => {
    const api = await startApi(t);
    assertError(await api.request('GET', '/bookmarks/does-not-exist'), 404, 'not_found');
    assertError(await api.request('GET', '/bookmarks/%E0%A4%A'), 404, 'not_found');
  });
});

describe('PATCH /bookmarks/:id', () => {
  it('updates only the given fields', async (t) => {
    const api = await startApi(t);
    const created = await api.create(sample(1, { tags: ['old'] }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const res = await api.request('PATCH', `/bookmarks/${encodeURIComponent(created.id)}`, {
      json: { title: '  New title ', tags: ['New', 'new', 'other'] },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.id, created.id);
    assert.equal(res.json.url, created.url);
    assert.equal(res.json.title, 'New title');
    assert.deepEqual(res.json.tags, ['new', 'other']);
    assert.equal(res.json.createdAt, created.createdAt);
    assert.match(res.json.updatedAt, ISO_DATE);
    assert.ok(res.json.updatedAt > created.updatedAt, 'updatedAt moves forward');

    const fetched = await api.request('GET', `/bookmarks/${encodeURIComponent(created.id)}`);
    assert.deepEqual(fetched.json, res.json);
  });

  it('validates like POST and leaves the bookmark unchanged on error', async (t) => {
    const api = await startApi(t);
    const created = await api.create(sample(1));
    const path = `/bookmarks/${encodeURIComponent(created.id)}`;
    for (const json of [{}, { title: '' }, { url: 'nope' }, { tags: ['no spaces'] }, { id: 'x' }, { createdAt: 'x' }, []]) {
      assertError(await api.request('PATCH', path, { json }), 400, 'validation_error');
    }
    assertError(await api.request('PATCH', path, { body: 'title=x' }), 415, 'unsupported_media_type');
    assertError(
      await api.request('PATCH', path, { body: '{', headers: { 'content-type': 'application/json' } }),
      400,
      'invalid_json',
    );
    assert.deepEqual((await api.request('GET', path)).json, created);
  });

  it('checks URL uniqueness against other bookmarks only', async (t) => {
    const api = await startApi(t);
    const a = await api.create(sample(1));
    const b = await api.create(sample(2));
    assertError(
      await api.request('PATCH', `/bookmarks/${encodeURIComponent(b.id)}`, { json: { url: a.url } }),
      409,
      'conflict',
    );
    const same = await api.request('PATCH', `/bookmarks/${encodeURIComponent(a.id)}`, {
      json: { url: a.url, title: 'Renamed' },
    });
    assert.equal(same.status, 200, same.text);
  });

  it('returns 404 for an unknown id', async (t) => {
    const api = await startApi(t);
    assertError(await api.request('PATCH', '/bookmarks/nope', { json: { title: 'x' } }), 404, 'not_found');
  });
});

describe('DELETE /bookmarks/:id', () => {
  it('deletes the bookmark', async (t) => {
    const api = await startApi(t);
    const created = await api.create(sample(1));
    const path = `/bookmarks/${encodeURIComponent(created.id)}`;
    const res = await api.request('DELETE', path);
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assertError(await api.request('GET', path), 404, 'not_found');
    assertError(await api.request('DELETE', path), 404, 'not_found');
  });

  it('frees the URL and never reuses ids', async (t) => {
    const api = await startApi(t);
    const first = await api.create(sample(1));
    await api.request('DELETE', `/bookmarks/${encodeURIComponent(first.id)}`);
    const second = await api.create(sample(1));
    assert.notEqual(second.id, first.id);
  });
});

describe('GET /bookmarks', () => {
  it('returns an empty page when there are no bookmarks', async (t) => {
    const api = await startApi(t);
    const res = await api.request('GET', '/bookmarks');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(res.json, { items: [], nextCursor: null });
  });

  it('pages 20 items at a time by default, oldest first', async (t) => {
    const api = await startApi(t);
    const created = [];
    for (let i = 0; i < 25; i++) created.push(await api.create(sample(i)));

    const first = await api.request('GET', '/bookmarks');
    assert.deepEqual(first.json.items, created.slice(0, 20));
    assert.equal(typeof first.json.nextCursor, 'string');

    const second = await api.request('GET', `/bookmarks?cursor=${encodeURIComponent(first.json.nextCursor)}`);
    assert.equal(second.status, 200, second.text);
    assert.deepEqual(second.json.items, created.slice(20));
    assert.equal(second.json.nextCursor, null);
  });

  it('walks every item exactly once with a custom limit', async (t) => {
    const api = await startApi(t);
    const created = [];
    for (let i = 0; i < 10; i++) created.push(await api.create(sample(i)));
    assert.deepEqual(await listAll(api, 'limit=3'), created);
    assert.deepEqual(await listAll(api, 'limit=100'), created);
    assert.deepEqual(await listAll(api, 'limit=1'), created);
  });

  it('returns a null nextCursor on a full last page', async (t) => {
    const api = await startApi(t);
    for (let i = 0; i < 6; i++) await api.create(sample(i));
    const first = await api.request('GET', '/bookmarks?limit=3');
    assert.equal(first.json.items.length, 3);
    assert.notEqual(first.json.nextCursor, null);
    const second = await api.request('GET', `/bookmarks?limit=3&cursor=${encodeURIComponent(first.json.nextCursor)}`);
    assert.equal(second.json.items.length, 3);
    assert.equal(second.json.nextCursor, null);
  });

  it('neither skips nor repeats items when bookmarks are deleted between pages', async (t) => {
    const api = await startApi(t);
    const b = [];
    for (let i = 0; i < 8; i++) b.push(await api.create(sample(i)));

    const first = await api.request('GET', '/bookmarks?limit=3');
    assert.deepEqual(first.json.items, b.slice(0, 3));

    // Delete an item already seen (b[0]), the last item seen (b[2]) and the next one (b[3]).
    for (const gone of [b[0], b[2], b[3]]) {
      assert.equal((await api.request('DELETE', `/bookmarks/${encodeURIComponent(gone.id)}`)).status, 204);
    }
    const second = await api.request('GET', `/bookmarks?limit=3&cursor=${encodeURIComponent(first.json.nextCursor)}`);
    assert.equal(second.status, 200, second.text);
    assert.deepEqual(second.json.items, [b[4], b[5], b[6]]);
  });

  it('shows bookmarks created during pagination on later pages', async (t) => {
    const api = await startApi(t);
    const b = [];
    for (let i = 0; i < 3; i++) b.push(await api.create(sample(i)));
    const first = await api.request('GET', '/bookmarks?limit=2');
    b.push(await api.create(sample(3)));
    const second = await api.request('GET', `/bookmarks?limit=2&cursor=${encodeURIComponent(first.json.nextCursor)}`);
    assert.deepEqual(second.json.items, [b[2], b[3]]);
  });

  it('filters by tag, case-insensitively, across pages', async (t) => {
    const api = await startApi(t);
    const b = [];
    for (let i = 0; i < 9; i++) {
      b.push(await api.create(sample(i, { tags: i % 3 === 0 ? ['work', 'x'] : ['home'] })));
    }
    assert.deepEqual(await listAll(api, 'tag=Work&limit=1'), [b[0], b[3], b[6]]);
    assert.deepEqual(await listAll(api, 'tag=work'), [b[0], b[3], b[6]]);
    assert.deepEqual(await listAll(api, 'tag=nothing'), []);
  });

  it('rejects invalid limits and cursors', async (t) => {
    const api = await startApi(t);
    await api.create(sample(1));
    for (const query of ['limit=0', 'limit=101', 'limit=-1', 'limit=abc', 'limit=1.5', 'limit=']) {
      const res = await api.request('GET', `/bookmarks?${query}`);
      assertError(res, 400, 'validation_error');
      assert.ok(detailFields(res).includes('limit'), `${query}: ${res.text}`);
    }
    for (const query of ['cursor=nope', 'cursor=%21%21%21']) {
      const res = await api.request('GET', `/bookmarks?${query}`);
      assertError(res, 400, 'validation_error');
      assert.ok(detailFields(res).includes('cursor'), `${query}: ${res.text}`);
    }
  });
});

describe('routing', () => {
  it('returns 404 JSON errors for unknown paths', async (t) => {
    const api = await startApi(t);
    for (const path of ['/', '/bookmark', '/bookmarks/a/b', '/api/bookmarks']) {
      assertError(await api.request('GET', path), 404, 'not_found');
    }
  });

  it('returns 405 with an Allow header for unsupported methods', async (t) => {
    const api = await startApi(t);
    const created = await api.create(sample(1));

    const onCollection = await api.request('PUT', '/bookmarks', { json: sample(2) });
    assertError(onCollection, 405, 'method_not_allowed');
    const allowCollection = (onCollection.headers.get('allow') ?? '').split(',').map((m) => m.trim());
    assert.deepEqual(allowCollection.sort(), ['GET', 'POST']);

    const onItem = await api.request('POST', `/bookmarks/${encodeURIComponent(created.id)}`, { json: sample(2) });
    assertError(onItem, 405, 'method_not_allowed');
    const allowItem = (onItem.headers.get('allow') ?? '').split(',').map((m) => m.trim());
    assert.deepEqual(allowItem.sort(), ['DELETE', 'GET', 'PATCH']);
  });

  it('gives every server instance its own store', async (t) => {
    const one = await startApi(t);
    const two = await startApi(t);
    await one.create(sample(1));
    assert.equal((await one.request('GET', '/bookmarks')).json.items.length, 1);
    assert.equal((await two.request('GET', '/bookmarks')).json.items.length, 0);
  });

  it('returns a server that is not listening yet', () => {
    const server = createServer();
    assert.equal(server.listening, false);
  });
});
