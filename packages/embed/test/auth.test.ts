import { describe, expect, it } from 'vitest';
import { authHeaders } from '../src/auth.ts';

describe('authHeaders', () => {
  it('sends the token only to https://huggingface.co', () => {
    expect(authHeaders('https://huggingface.co/google/gemma-3n-E2B-it/resolve/main/', 'hf_x')).toEqual({ Authorization: 'Bearer hf_x' });
    expect(authHeaders('https://huggingface.co/x/', null)).toEqual({});
    expect(authHeaders('http://huggingface.co/x/', 'hf_x')).toEqual({});
    expect(authHeaders('https://huggingface.co.evil.example/x/', 'hf_x')).toEqual({});
    expect(authHeaders('https://evil.example/huggingface.co/', 'hf_x')).toEqual({});
    expect(authHeaders('https://cdn-lfs.huggingface.co/x', 'hf_x')).toEqual({});
    expect(authHeaders('not a url', 'hf_x')).toEqual({});
  });
});
