import { useEffect, useState, type FormEvent } from 'react';
import type { ChatSnapshot, RoomState } from '../protocol/client';
import { dmRoomId, isValidRoomId, roomLabel, type User } from '../protocol/types';
import { navigate, routePath } from '../router';
import { presenceText } from './format';
import { btnPrimary, field, sectionTitle } from './ui';

interface Props {
  id: string;
  className: string;
  me: string;
  snap: ChatSnapshot;
  activeRoom?: string;
  onJoin: (room: string) => void;
  /** Called after the user picked a room or a person (closes the phone menu). */
  onPicked: () => void;
}

export function Sidebar({ id, className, me, snap, activeRoom, onJoin, onPicked }: Props) {
  const rooms = Object.values(snap.rooms);
  const publicRooms = rooms.filter((r) => r.kind === 'public').sort((a, b) => a.id.localeCompare(b.id));
  const dmRooms = rooms
    .filter((r) => r.kind === 'dm' && roomLabel(r.id, me) !== r.id)
    .sort((a, b) => roomLabel(a.id, me).localeCompare(roomLabel(b.id, me)));
  const users = Object.values(snap.users).sort((a, b) => a.id.localeCompare(b.id));
  useTick(30000); // keeps "last seen … ago" current

  return (
    <aside
      id={id}
      className={`${className} min-h-0 flex-col gap-5 overflow-y-auto border-r border-slate-200 bg-slate-100 p-3`}
      onClickCapture={(e) => {
        if ((e.target as HTMLElement).closest('a, li button')) onPicked();
      }}
    >
      <JoinForm
        onJoin={(room) => {
          onPicked();
          onJoin(room);
        }}
      />
      <nav aria-label="Rooms">
        <h2 className={sectionTitle}>Rooms</h2>
        {publicRooms.length === 0 && <p className="px-2 py-1 text-sm text-slate-600">No rooms yet: join one above.</p>}
        <ul className="mt-1 space-y-0.5">
          {publicRooms.map((r) => (
            <RoomLink key={r.id} room={r} label={r.id} prefix="#" href={routePath({ name: 'room', room: r.id })} active={r.id === activeRoom} />
          ))}
        </ul>
        <h2 className={`${sectionTitle} mt-4`}>Direct messages</h2>
        {dmRooms.length === 0 && <p className="px-2 py-1 text-sm text-slate-600">Choose a person below to start one.</p>}
        <ul className="mt-1 space-y-0.5">
          {dmRooms.map((r) => {
            const other = roomLabel(r.id, me);
            return (
              <RoomLink
                key={r.id}
                room={r}
                label={other}
                prefix="@"
                href={routePath({ name: 'dm', user: other })}
                active={r.id === activeRoom}
                online={snap.users[other]?.status === 'online'}
              />
            );
          })}
        </ul>
      </nav>
      <section aria-labelledby="people-heading">
        <h2 id="people-heading" className={sectionTitle}>
          People
        </h2>
        <ul aria-label="People" className="mt-1 space-y-0.5">
          {users.map((u) => (
            <Person key={u.id} user={u} me={me} active={activeRoom === (u.id === me ? '' : dmRoomId(me, u.id))} />
          ))}
        </ul>
      </section>
    </aside>
  );
}

function JoinForm({ onJoin }: { onJoin: (room: string) => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  function submit(ev: FormEvent) {
    ev.preventDefault();
    const room = value.trim().replace(/^#/, '').toLowerCase();
    if (!isValidRoomId(room)) {
      setError('Room names have 1–64 characters: a–z, 0–9 and “-”, starting with a letter or digit.');
      return;
    }
    setError(null);
    setValue('');
    onJoin(room);
  }
  return (
    <form onSubmit={submit} className="px-1" noValidate>
      <label htmlFor="join-room" className="block text-xs font-bold uppercase tracking-wide text-slate-700">
        Room
      </label>
      <div className="mt-1 flex gap-2">
        <input
          id="join-room"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          placeholder="e.g. general"
          autoCapitalize="none"
          spellCheck={false}
          aria-describedby={error ? 'join-room-error' : undefined}
          aria-invalid={error ? true : undefined}
          className={`${field} min-w-0 flex-1 px-2 py-1.5 text-sm`}
        />
        <button
          type="submit"
          className={`${btnPrimary} px-3 py-1.5 text-sm`}
        >
          Join
        </button>
      </div>
      {error && (
        <p id="join-room-error" className="mt-1 text-xs text-red-800">
          {error}
        </p>
      )}
    </form>
  );
}

function RoomLink(props: { room: RoomState; label: string; prefix: string; href: string; active: boolean; online?: boolean }) {
  const { room, label, prefix, href, active, online } = props;
  const name = room.unread > 0 ? `${label}, ${room.unread} unread` : label;
  return (
    <li>
      <a
        href={href}
        aria-label={name}
        aria-current={active ? 'page' : undefined}
        onClick={(e) => {
          e.preventDefault();
          navigate(href);
        }}
        className={`flex items-center gap-2 rounded-md px-2 py-1.5 text-sm focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600 ${
          active ? 'bg-indigo-700 font-semibold text-white' : 'text-slate-800 hover:bg-slate-200'
        } ${room.unread > 0 && !active ? 'font-bold' : ''}`}
      >
        <span aria-hidden="true" className={active ? 'text-indigo-200' : 'text-slate-500'}>
          {prefix}
        </span>
        <span className="min-w-0 flex-1 truncate">{label}</span>
        {online !== undefined && (
          <span aria-hidden="true" className={`h-2 w-2 rounded-full ${online ? 'bg-emerald-600' : 'bg-slate-400'}`} />
        )}
        {room.unread > 0 && (
          <span aria-hidden="true" className="rounded-full bg-red-700 px-2 text-xs font-bold text-white">
            {room.unread}
          </span>
        )}
      </a>
    </li>
  );
}

function Person({ user, me, active }: { user: User; me: string; active: boolean }) {
  const online = user.status === 'online';
  const status = presenceText(user.status, user.last_seen);
  const content = (
    <>
      <span
        aria-hidden="true"
        className={`h-2.5 w-2.5 shrink-0 rounded-full ${online ? 'bg-emerald-600' : 'border border-slate-500 bg-white'}`}
      />
      <span className="min-w-0 flex-1">
        <span className="block truncate font-medium">
          {user.id}
          {user.id === me && <span className="font-normal text-slate-600"> (you)</span>}
        </span>
        <span className={`block text-xs ${active ? 'text-indigo-100' : 'text-slate-600'}`}>{status}</span>
      </span>
    </>
  );
  return (
    <li>
      {user.id === me ? (
        <div className="flex items-center gap-2 px-2 py-1.5 text-sm text-slate-800">{content}</div>
      ) : (
        <button
          type="button"
          onClick={() => navigate(routePath({ name: 'dm', user: user.id }))}
          aria-current={active ? 'page' : undefined}
          className={`flex w-full items-center gap-2 rounded-md px-2 py-1.5 text-left text-sm focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600 ${
            active ? 'bg-indigo-700 text-white' : 'text-slate-800 hover:bg-slate-200'
          }`}
        >
          {content}
        </button>
      )}
    </li>
  );
}

/** Re-renders the caller every `ms` milliseconds. */
function useTick(ms: number): void {
  const [, setN] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setN((n) => n + 1), ms);
    return () => clearInterval(t);
  }, [ms]);
}
