// The daemon's token. The URL the daemon prints (`/?token=…`) carries it
// once; it moves to sessionStorage (this tab only, gone when the tab
// closes) and leaves the address bar, the history and any later Referer.

const KEY = 'switchyard.token';

/** Takes `?token=` out of the URL (if there) and returns the token to use. */
export function takeToken(): string | null {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl !== null) {
    url.searchParams.delete('token');
    history.replaceState(history.state, '', url.pathname + url.search + url.hash);
    if (fromUrl.trim()) sessionStorage.setItem(KEY, fromUrl.trim());
  }
  return sessionStorage.getItem(KEY);
}

/** Stores a token typed in by the user. */
export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token.trim());
}

/** Forgets the token (after the daemon said it is wrong). */
export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}
