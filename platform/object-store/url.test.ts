import { describe, expect, it } from '@jest/globals';
import { isS3Url, joinKey, parseS3Url, s3Url, toObjectRef } from './url.ts';

describe('parseS3Url', () => {
  it('reads the bucket and the key byte for byte, as the AWS CLI does', () => {
    expect(parseS3Url('s3://data/shapes/2026-11.tar.gz')).toEqual({
      bucket: 'data',
      key: 'shapes/2026-11.tar.gz',
    });
    expect(parseS3Url('s3://data/a%20b?c#d')).toEqual({ bucket: 'data', key: 'a%20b?c#d' });
    expect(s3Url(parseS3Url('s3://data/x/y'))).toBe('s3://data/x/y');
    expect(isS3Url('S3://data/x')).toBe(true);
    expect(isS3Url('https://data/x')).toBe(false);
  });

  it('takes an empty key or a trailing slash only as a prefix', () => {
    expect(parseS3Url('s3://data', { prefix: true })).toEqual({ bucket: 'data', key: '' });
    expect(parseS3Url('s3://data/captures/', { prefix: true })).toEqual({ bucket: 'data', key: 'captures/' });
    expect(() => parseS3Url('s3://data/captures/')).toThrow(
      's3://data/captures/ names no object (the key is empty or ends in "/")',
    );
    expect(() => parseS3Url('s3://data')).toThrow('names no object');
  });

  it('refuses credentials in the URL without printing them', () => {
    const e = (() => {
      try {
        parseS3Url('s3://AKID:wJalrXUtnFEMI@data/x');
      } catch (err) {
        return err as Error & { code: string };
      }
      throw new Error('no error');
    })();
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain('s3://***@data/x: an s3:// URL carries no credentials');
    expect(e.message).not.toContain('wJalrXUtnFEMI');
  });

  it('refuses a host and port, bad bucket names and what is no s3 URL', () => {
    expect(() => parseS3Url('s3://127.0.0.1:8333/data/x')).toThrow('names a bucket, not a host and port');
    expect(() => parseS3Url('s3://Data/x')).toThrow('"Data" is not a bucket name');
    expect(() => parseS3Url('s3://ab/x')).toThrow('"ab" is not a bucket name');
    expect(() => parseS3Url('s3://a..b/x')).toThrow('is not a bucket name');
    expect(() => parseS3Url('https://data/x')).toThrow('https://data/x is not an s3://bucket/key URL');
    expect(() => parseS3Url(`s3://data/${'k'.repeat(1025)}`)).toThrow('the key is over 1024 bytes');
  });
});

describe('toObjectRef and joinKey', () => {
  it('checks a ref given as an object too', () => {
    expect(toObjectRef({ bucket: 'data', key: 'k' })).toEqual({ bucket: 'data', key: 'k' });
    expect(() => toObjectRef({ bucket: 'No_Such', key: 'k' })).toThrow('is not a bucket name');
  });

  it('joins with exactly one slash', () => {
    expect(joinKey('', 'a/b')).toBe('a/b');
    expect(joinKey('runs/1/', '/model.json')).toBe('runs/1/model.json');
    expect(joinKey('runs/1', 'model.json')).toBe('runs/1/model.json');
  });
});
