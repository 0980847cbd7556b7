/** The Hugging Face access token's one destination. */

/** The only host an access token is ever sent to. */
export const TOKEN_HOST = 'huggingface.co';

/** `Authorization` for https://huggingface.co URLs when there is a token; no headers for any other URL. */
export function authHeaders(url: string, token: string | null): Record<string, string> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return {};
  }
  return token && parsed.protocol === 'https:' && parsed.hostname === TOKEN_HOST ? { Authorization: `Bearer ${token}` } : {};
}
