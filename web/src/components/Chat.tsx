import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { api, isAdmin } from '../api';
import { notifyHidden } from '../notify';
import { ChatClient, type ChatSnapshot, type NotifyReason } from '../protocol/client';
import { ChatError, dmRoomId, groupRoomId, isValidRoomId, isValidUserId, roomMembers, type Message } from '../protocol/types';
import { navigate, roomRoute, routePath, useRoute } from '../router';
import { preview } from './format';
import { MessageSearch } from './MessageSearch';
import { Sidebar } from './Sidebar';
import { RoomView } from './RoomView';
import { btnPrimary } from './ui';

const ActivityPage = lazy(() => import('./ActivityPage'));

const joinedKey = (me: string) => `chatcluster.joined.${me}`;

function loadJoined(me: string): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(joinedKey(me)) ?? '[]');
    return Array.isArray(v) ? v.filter((r) => typeof r === 'string' && isValidRoomId(r)) : [];
  } catch {
    return [];
  }
}

function saveJoined(me: string, rooms: string[]): void {
  try {
    localStorage.setItem(joinedKey(me), JSON.stringify(rooms));
  } catch {
    /* private mode */
  }
}

/** A browser notification for a mention or a DM while the page is hidden; clicking it opens the room. */
function notify(m: Message, reason: NotifyReason, me: string): void {
  const others = roomMembers(m.room).filter((u) => u !== me && u !== m.from);
  let title = m.from; // a DM
  if (reason === 'mention') title = `${m.from} mentioned you in #${m.room}`;
  else if (others.length > 0) title = `${m.from} to you and ${others.join(', ')}`;
  notifyHidden(title, preview(m.text, 200), m.id, () => navigate(routePath(roomRoute(m.room, me))));
}

/** Creates the protocol client for the signed-in user and keeps users and rooms fresh. */
function useChatClient(me: string, onSessionEnded: () => void): ChatClient {
  const endedRef = useRef(onSessionEnded);
  endedRef.current = onSessionEnded;
  const client = useMemo(() => {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const listRooms = () =>
      api.rooms().then(
        (r) => c.addRooms(r.rooms ?? []),
        () => c.addRooms([]),
      );
    const c = new ChatClient({
      url: `${proto}//${location.host}/ws`,
      onNotify: (m, reason) => notify(m, reason, me),
      onCountsStale: () => void listRooms(),
      beforeReconnect: async () => {
        try {
          await api.me();
          return true;
        } catch (e) {
          return !(e instanceof ChatError && e.code === 'unauthorized');
        }
      },
      onSessionEnded: () => endedRef.current(),
      onHello: () => {
        api.users().then((r) => c.setUsers(r.users ?? []), () => {});
        void listRooms();
      },
    });
    for (const room of loadJoined(me)) void c.join(room).catch(() => {});
    return c;
  }, [me]);
  useEffect(() => {
    client.start();
    return () => client.stop();
  }, [client]);
  // What arrives while the page is hidden stays unread (and may notify).
  useEffect(() => {
    const update = () => client.setPageVisible(document.visibilityState !== 'hidden');
    update();
    document.addEventListener('visibilitychange', update);
    return () => document.removeEventListener('visibilitychange', update);
  }, [client]);
  return client;
}

export function Chat({ me, onSignedOut }: { me: string; onSignedOut: (notice?: string) => void }) {
  const client = useChatClient(me, () => onSignedOut('Your session ended. Sign in again.'));
  const snap: ChatSnapshot = useSyncExternalStore(client.subscribe, client.getSnapshot);
  const route = useRoute();
  const [admin, setAdmin] = useState(false);
  const [menuOpen, setMenuOpen] = useState(false);
  // The message a search result points at: shown once its room is open.
  const [reveal, setReveal] = useState<{ room: string; seq: number } | null>(null);

  useEffect(() => {
    let live = true;
    isAdmin().then((a) => live && setAdmin(a));
    return () => {
      live = false;
    };
  }, [me]);

  // The room on screen, from the URL.
  let activeRoom: string | undefined;
  let routeError: string | undefined;
  if (route.name === 'room') {
    if (isValidRoomId(route.room)) activeRoom = route.room;
    else routeError = `“${route.room}” is not a valid room name.`;
  } else if (route.name === 'dm') {
    if (route.user === me) routeError = 'You cannot open a direct conversation with yourself.';
    else if (isValidUserId(route.user)) activeRoom = dmRoomId(me, route.user);
    else routeError = `“${route.user}” is not a valid user id.`;
  } else if (route.name === 'group') {
    const room = groupRoomId(route.members);
    if (!room) routeError = 'A group conversation has 3 to 8 people, each a valid user id.';
    else if (!route.members.includes(me)) routeError = 'You are not a member of this group conversation.';
    else activeRoom = room;
  }

  useEffect(() => {
    void client.open(activeRoom).catch(() => {});
    if (activeRoom && isValidRoomId(activeRoom)) {
      const joined = loadJoined(me);
      if (!joined.includes(activeRoom)) saveJoined(me, [...joined, activeRoom]);
    }
    setMenuOpen(false);
    setReveal((v) => (v && v.room !== activeRoom ? null : v));
  }, [client, activeRoom, me]);

  const leaveRoom = useCallback(
    (room: string) => {
      saveJoined(
        me,
        loadJoined(me).filter((r) => r !== room),
      );
      void client.leave(room).catch(() => {});
      navigate('/');
    },
    [client, me],
  );

  async function signOut() {
    client.stop();
    try {
      await api.signOut();
    } catch {
      /* the session may already be gone */
    }
    onSignedOut();
  }

  // The tab title counts what concerns the user: DMs, groups and joined rooms, and mentions anywhere.
  const unread = Object.values(snap.rooms).reduce((n, r) => n + (r.kind !== 'public' || r.joined ? r.unread : r.mentions), 0);
  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) ChatCluster` : 'ChatCluster';
  }, [unread]);

  const showSidebarOnMobile = menuOpen || route.name === 'home';

  return (
    <div className="flex h-full flex-col">
      {snap.status === 'reconnecting' && (
        <div role="alert" className="bg-amber-300 px-4 py-2 text-center text-sm font-semibold text-amber-950">
          Reconnecting… the connection to the chat server was lost; retrying.
        </div>
      )}
      <header className="relative flex flex-wrap items-center gap-2 border-b border-slate-200 bg-indigo-800 px-3 py-2 text-white sm:px-4">
        <button
          type="button"
          className="rounded-md px-2 py-1 text-sm font-medium ring-1 ring-white/40 hover:bg-indigo-700 focus:outline-none focus-visible:ring-2 focus-visible:ring-white md:hidden"
          aria-expanded={showSidebarOnMobile}
          aria-controls="sidebar"
          onClick={() => setMenuOpen((v) => !v)}
        >
          Menu
        </button>
        <a
          href="/"
          onClick={(e) => {
            e.preventDefault();
            navigate('/');
          }}
          className="text-lg font-bold tracking-tight focus:outline-none focus-visible:ring-2 focus-visible:ring-white"
        >
          ChatCluster
        </a>
        <MessageSearch
          me={me}
          onPick={(m) => {
            setReveal({ room: m.room, seq: m.seq });
            navigate(routePath(roomRoute(m.room, me)));
          }}
        />
        <span className="ml-auto hidden text-sm text-indigo-100 sm:inline">
          Signed in as <strong className="text-white">{me}</strong>
        </span>
        {admin && (
          <a
            href="/activity"
            aria-current={route.name === 'activity' ? 'page' : undefined}
            onClick={(e) => {
              e.preventDefault();
              navigate('/activity');
            }}
            className="ml-auto rounded-md px-3 py-1 text-sm font-medium ring-1 ring-white/40 hover:bg-indigo-700 focus:outline-none focus-visible:ring-2 focus-visible:ring-white sm:ml-2 aria-[current=page]:bg-white aria-[current=page]:text-indigo-900"
          >
            Activity
          </a>
        )}
        <button
          type="button"
          onClick={signOut}
          className={`${admin ? '' : 'ml-auto sm:ml-2'} rounded-md bg-white px-3 py-1 text-sm font-semibold text-indigo-900 hover:bg-indigo-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-white focus-visible:ring-offset-2 focus-visible:ring-offset-indigo-800`}
        >
          Sign out
        </button>
      </header>
      <div className="flex min-h-0 flex-1">
        <Sidebar
          id="sidebar"
          className={`${showSidebarOnMobile ? 'flex' : 'hidden'} w-full md:flex md:w-72 lg:w-80`}
          me={me}
          snap={snap}
          activeRoom={activeRoom}
          onJoin={(room) => navigate(routePath({ name: 'room', room }))}
          onPicked={() => setMenuOpen(false)}
        />
        <main className={`${showSidebarOnMobile ? 'hidden md:flex' : 'flex'} min-w-0 flex-1 flex-col bg-white`}>
          {route.name === 'activity' ? (
            admin ? (
              <Suspense fallback={<p className="p-6 text-slate-700">Loading activity…</p>}>
                <ActivityPage />
              </Suspense>
            ) : (
              <p className="p-6 text-slate-700">The activity log is for admins only.</p>
            )
          ) : activeRoom ? (
            <RoomView
              key={activeRoom}
              client={client}
              snap={snap}
              room={activeRoom}
              me={me}
              admin={admin}
              reveal={reveal?.room === activeRoom ? reveal.seq : undefined}
              onRevealed={() => setReveal(null)}
              onLeave={leaveRoom}
            />
          ) : (
            <Home error={routeError} onJoin={(room) => navigate(routePath({ name: 'room', room }))} />
          )}
        </main>
      </div>
    </div>
  );
}

function Home({ error, onJoin }: { error?: string; onJoin: (room: string) => void }) {
  return (
    <div className="m-auto max-w-md p-6 text-center">
      {error && <p className="mb-4 rounded-md bg-red-50 px-3 py-2 text-red-800 ring-1 ring-red-200">{error}</p>}
      <h1 className="text-xl font-semibold text-slate-900">Welcome to ChatCluster</h1>
      <p className="mt-2 text-slate-700">
        Join a room by name, pick one from the list, or choose a person to talk to them directly.
      </p>
      <button
        type="button"
        onClick={() => onJoin('general')}
        className={`${btnPrimary} mt-4 px-4 py-2`}
      >
        Open #general
      </button>
    </div>
  );
}
