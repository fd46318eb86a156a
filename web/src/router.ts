// A tiny History-API router: /rooms/<id>, /dm/<user>, /group/<user>_<user>_…, /activity, /.
import { useSyncExternalStore } from 'react';
import { isDmRoom, isGroupRoom, roomLabel, roomMembers } from './protocol/types';

export type Route =
  | { name: 'home' }
  | { name: 'room'; room: string }
  | { name: 'dm'; user: string }
  | { name: 'group'; members: string[] }
  | { name: 'activity' };

const listeners = new Set<() => void>();
window.addEventListener('popstate', () => listeners.forEach((f) => f()));

export function parseRoute(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'rooms' && parts[1]) return { name: 'room', room: parts[1] };
  if (parts[0] === 'dm' && parts[1]) return { name: 'dm', user: parts[1] };
  if (parts[0] === 'group' && parts[1]) return { name: 'group', members: parts[1].split('_') };
  if (parts[0] === 'activity') return { name: 'activity' };
  return { name: 'home' };
}

export function routePath(r: Route): string {
  switch (r.name) {
    case 'room':
      return `/rooms/${encodeURIComponent(r.room)}`;
    case 'dm':
      return `/dm/${encodeURIComponent(r.user)}`;
    case 'group':
      return `/group/${r.members.map(encodeURIComponent).join('_')}`;
    case 'activity':
      return '/activity';
    default:
      return '/';
  }
}

export function navigate(path: string, replace = false): void {
  if (path === location.pathname) return;
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  listeners.forEach((f) => f());
}

export function useRoute(): Route {
  const path = useSyncExternalStore(
    (f) => {
      listeners.add(f);
      return () => listeners.delete(f);
    },
    () => location.pathname,
  );
  return parseRoute(path);
}

/** The route that opens a room: its id, the other user of a DM, or a group's members. */
export function roomRoute(room: string, me: string): Route {
  if (isDmRoom(room)) return { name: 'dm', user: roomLabel(room, me) };
  if (isGroupRoom(room)) return { name: 'group', members: roomMembers(room) };
  return { name: 'room', room };
}
