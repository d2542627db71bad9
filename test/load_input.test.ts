/**
 * What a load names that is no model at all: an empty string or a URL that does not parse is a
 * BAD_ARGUMENT naming the input, raised before any download, file or GPU is touched (the URL
 * constructor's own TypeError, "Invalid base URL", named neither).
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { openModel } from '../src/loader/open_model.ts';
import { expectEmberError } from './helpers/errors.ts';

describe('load arguments', () => {
  it.each(['http://', 'https://', 'HTTP://', 'http://[::1'])('the malformed URL %o', async (url) => {
    const e = await expectEmberError(() => openModel(url, { fileCache: null }), 'BAD_ARGUMENT', /the model URL ".*" is not a valid URL/);
    expect(e.message).toContain(JSON.stringify(url));
    await expectEmberError(() => Engine.load(url, { fileCache: false }), 'BAD_ARGUMENT', /is not a valid URL/);
  });

  it.each(['', '   '])('the empty model %o', async (s) => {
    await expectEmberError(() => openModel(s, { fileCache: null }), 'BAD_ARGUMENT', /the model is ".*"; expected a URL, a path, a Hub id/);
    await expectEmberError(() => Engine.load(s, { fileCache: false }), 'BAD_ARGUMENT', /the model is/);
  });

  it('a malformed hubUrl', async () => {
    await expectEmberError(() => openModel('org/name', { fileCache: null, hubUrl: 'https://' }), 'BAD_ARGUMENT', /hubUrl "https:\/\/" is not a valid URL/);
  });
});
