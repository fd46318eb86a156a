// REST calls of the chat contract. The session is the HttpOnly cookie set by
// POST /api/session, so every call is same-origin with credentials.

import { ChatError, type Message, type RoomInfo, type User } from './protocol/types';

export interface ActivityEvent {
  id: string;
  type: string;
  ts: string;
  user: string;
  room?: string;
  message_id?: string;
}

export interface ActivityPage {
  total: number;
  events: ActivityEvent[];
}

/** The messages matching a search, newest first, and how many match in all. */
export interface SearchResult {
  total: number;
  messages: Message[];
}

export interface StatsBucket {
  ts: string;
  count_by_type: Record<string, number>;
}

export interface ActivityStats {
  buckets: StatsBucket[];
  top_rooms: unknown[];
  active_users: number;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ChatError('unavailable', 'The server cannot be reached.');
  }
  const text = await res.text();
  let data: any = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!res.ok) {
    const code = data?.error?.code ?? statusCode(res.status);
    throw new ChatError(code, data?.error?.message ?? `${res.status} ${res.statusText}`);
  }
  return data as T;
}

function statusCode(status: number): string {
  switch (status) {
    case 400:
      return 'bad_request';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 413:
      return 'too_large';
    case 429:
      return 'rate_limited';
    case 503:
      return 'unavailable';
    default:
      return 'internal';
  }
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const api = {
  signIn: (username: string, password: string) =>
    call<{ token: string; user: { id: string } }>('POST', '/api/session', { username, password }),
  signOut: () => call<unknown>('DELETE', '/api/session'),
  me: () => call<{ user: { id: string } }>('GET', '/api/me'),
  users: () => call<{ users: User[] }>('GET', '/api/users'),
  rooms: () => call<{ rooms: RoomInfo[] }>('GET', '/api/rooms'),
  activity: (p: { q?: string; type?: string; user?: string; room?: string; from?: string; to?: string; size?: number }) =>
    call<ActivityPage>('GET', `/api/activity${query(p)}`),
  search: (p: { q: string; room?: string; from?: string; before?: string; limit?: number }) =>
    call<SearchResult>('GET', `/api/search${query(p)}`),
  stats: (p: { from?: string; to?: string; interval?: string }) => call<ActivityStats>('GET', `/api/activity/stats${query(p)}`),
};

/** Whether the signed-in user may read the activity log (admins get 200, others 403). */
export async function isAdmin(): Promise<boolean> {
  try {
    await api.activity({ size: 1 });
    return true;
  } catch (e) {
    if (e instanceof ChatError && (e.code === 'forbidden' || e.code === 'unauthorized')) return false;
    return false;
  }
}
