import { useEffect, useState, type FormEvent } from 'react';
import type { ChatSnapshot, RoomState } from '../protocol/client';
import { dmRoomId, groupRoomId, isValidRoomId, MAX_GROUP_MEMBERS, MIN_GROUP_MEMBERS, roomLabel, type User } from '../protocol/types';
import { navigate, roomRoute, routePath } from '../router';
import { Dialog } from './Dialog';
import { presenceText, roomLinkName } from './format';
import { btnPrimary, btnQuiet, field, sectionTitle } from './ui';

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
    .filter((r) => r.kind !== 'public' && roomLabel(r.id, me) !== r.id)
    .sort((a, b) => roomLabel(a.id, me).localeCompare(roomLabel(b.id, me)));
  const users = Object.values(snap.users).sort((a, b) => a.id.localeCompare(b.id));
  const [newGroup, setNewGroup] = useState(false);
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
        <div className="mt-4 flex items-center gap-2">
          <h2 className={`${sectionTitle} flex-1`}>Direct messages</h2>
          <button type="button" onClick={() => setNewGroup(true)} className={`${btnQuiet} bg-white px-2 py-0.5 text-xs`}>
            New group message
          </button>
        </div>
        {dmRooms.length === 0 && <p className="px-2 py-1 text-sm text-slate-600">Choose a person below to start one.</p>}
        <ul className="mt-1 space-y-0.5">
          {dmRooms.map((r) => {
            const label = roomLabel(r.id, me);
            return (
              <RoomLink
                key={r.id}
                room={r}
                label={label}
                prefix={r.kind === 'group' ? '' : '@'}
                href={routePath(roomRoute(r.id, me))}
                active={r.id === activeRoom}
                online={r.kind === 'dm' ? snap.users[label]?.status === 'online' : undefined}
              />
            );
          })}
        </ul>
      </nav>
      {newGroup && (
        <NewGroupDialog
          me={me}
          users={users.map((u) => u.id).filter((id) => id !== me)}
          onClose={() => setNewGroup(false)}
          onStart={(members) => {
            setNewGroup(false);
            onPicked();
            navigate(routePath({ name: 'group', members }));
          }}
        />
      )}
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
  // Named by its content, in one piece for screen readers: the label and the counts the badges show.
  const name = roomLinkName(label, room.unread, room.mentions);
  return (
    <li>
      <a
        href={href}
        aria-current={active ? 'page' : undefined}
        onClick={(e) => {
          e.preventDefault();
          navigate(href);
        }}
        className={`flex items-center gap-2 rounded-md px-2 py-1.5 text-sm focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600 ${
          active ? 'bg-indigo-700 font-semibold text-white' : 'text-slate-800 hover:bg-slate-200'
        } ${room.unread > 0 && !active ? 'font-bold' : ''}`}
      >
        {prefix && (
          <span aria-hidden="true" className={active ? 'text-indigo-200' : 'text-slate-500'}>
            {prefix}
          </span>
        )}
        <span aria-hidden="true" className="min-w-0 flex-1 truncate">
          {label}
        </span>
        <span className="sr-only">{name}</span>
        {online !== undefined && (
          <span aria-hidden="true" className={`h-2 w-2 rounded-full ${online ? 'bg-emerald-600' : 'bg-slate-400'}`} />
        )}
        {room.unread > 0 && (
          <span aria-hidden="true" className="rounded-full bg-red-700 px-2 text-xs font-bold text-white">
            {room.unread}
          </span>
        )}
        {room.mentions > 0 && (
          <span aria-hidden="true" title="Mentions you" className="rounded-full bg-amber-300 px-1.5 text-xs font-bold text-amber-950">
            @
          </span>
        )}
      </a>
    </li>
  );
}

/** Picks the people of a new group conversation: 2 to 7 others besides the user. */
function NewGroupDialog(props: { me: string; users: string[]; onClose: () => void; onStart: (members: string[]) => void }) {
  const { me, users, onClose, onStart } = props;
  const [picked, setPicked] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  function start(ev: FormEvent) {
    ev.preventDefault();
    const members = [me, ...picked].sort();
    if (!groupRoomId(members)) {
      setError(`Choose ${MIN_GROUP_MEMBERS - 1} to ${MAX_GROUP_MEMBERS - 1} people.`);
      return;
    }
    onStart(members);
  }
  return (
    <Dialog title="New group message" onClose={onClose}>
      <form onSubmit={start} noValidate>
        <fieldset className="mt-3">
          <legend className="text-sm text-slate-700">
            Choose {MIN_GROUP_MEMBERS - 1} to {MAX_GROUP_MEMBERS - 1} people to talk with together.
          </legend>
          {users.length === 0 && <p className="mt-2 text-sm text-slate-600">Nobody else has signed up yet.</p>}
          <ul className="mt-2 max-h-64 space-y-1 overflow-y-auto">
            {users.map((id) => (
              <li key={id}>
                <label className="flex items-center gap-2 rounded px-1 py-0.5 text-sm text-slate-900 hover:bg-slate-100">
                  <input
                    type="checkbox"
                    checked={picked.includes(id)}
                    onChange={(e) => {
                      setError(null);
                      setPicked((p) => (e.target.checked ? [...p, id] : p.filter((x) => x !== id)));
                    }}
                    className="h-4 w-4 accent-indigo-700"
                  />
                  {id}
                </label>
              </li>
            ))}
          </ul>
        </fieldset>
        {error && <p className="mt-2 text-sm text-red-800">{error}</p>}
        <div className="mt-4 flex justify-end gap-2">
          <button type="button" onClick={onClose} className={`${btnQuiet} px-3 py-1.5`}>
            Cancel
          </button>
          <button type="submit" className={`${btnPrimary} px-3 py-1.5`}>
            Start
          </button>
        </div>
      </form>
    </Dialog>
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
