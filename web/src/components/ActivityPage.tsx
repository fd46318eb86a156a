import { useEffect, useState } from 'react';
import {
  Area,
  AreaChart,
  Bar,
  BarChart,
  CartesianGrid,
  Cell,
  Legend,
  Pie,
  PieChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { api, type ActivityPage as Page, type ActivityStats } from '../api';
import { ChatError } from '../protocol/types';
import { bucketRows, KNOWN_TYPES, statsWindow, topRooms, totalsByType } from './activityData';
import { btnPrimary, field } from './ui';

// Colour-blind-friendly (Okabe–Ito) palette, dark enough on white.
const COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#882255', '#444444'];
const colorOf = (i: number) => COLORS[i % COLORS.length];

const inputClass = `${field} px-2 py-1.5 text-sm`;

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

function errorText(e: unknown): string {
  return e instanceof ChatError ? `${e.message} (${e.code})` : 'request failed';
}

export default function ActivityPage() {
  const [range, setRange] = useState('1h');
  const [stats, setStats] = useState<ActivityStats | undefined>();
  const [statsError, setStatsError] = useState<string | null>(null);
  const [refresh, setRefresh] = useState(0);

  useEffect(() => {
    let live = true;
    setStatsError(null);
    api.stats(statsWindow(range)).then(
      (s) => live && setStats(s),
      (e) => live && setStatsError(errorText(e)),
    );
    return () => {
      live = false;
    };
  }, [range, refresh]);

  const { rows, types } = bucketRows(stats);
  const rooms = topRooms(stats);
  const totals = totalsByType(stats);

  return (
    <div className="min-h-0 flex-1 overflow-y-auto p-4 sm:p-6">
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="text-xl font-semibold text-slate-900">Activity</h1>
        <label className="ml-auto flex items-center gap-2 text-sm text-slate-800">
          Time range
          <select value={range} onChange={(e) => setRange(e.target.value)} className={inputClass}>
            <option value="15m">Last 15 minutes</option>
            <option value="1h">Last hour</option>
            <option value="6h">Last 6 hours</option>
            <option value="24h">Last 24 hours</option>
          </select>
        </label>
        <button
          type="button"
          onClick={() => setRefresh((n) => n + 1)}
          className={`${btnPrimary} px-3 py-1.5 text-sm`}
        >
          Refresh
        </button>
      </div>
      {statsError && <p className="mt-3 rounded-md bg-red-50 px-3 py-2 text-sm text-red-800 ring-1 ring-red-200">Statistics: {statsError}</p>}

      <div className="mt-4 grid gap-4 lg:grid-cols-3">
        <figure className="rounded-lg bg-white p-3 ring-1 ring-slate-200 lg:col-span-2">
          <figcaption className="text-sm font-semibold text-slate-800">Events over time, by type</figcaption>
          <div className="h-64" role="img" aria-label={`Chart of events over time by type: ${totals.map((t) => `${t.type} ${t.count}`).join(', ') || 'no events'}`}>
            <ResponsiveContainer width="100%" height="100%">
              <AreaChart data={rows} margin={{ top: 8, right: 8, bottom: 0, left: -16 }}>
                <CartesianGrid strokeDasharray="3 3" stroke="#cbd5e1" />
                <XAxis dataKey="label" tick={{ fontSize: 11, fill: '#334155' }} minTickGap={24} />
                <YAxis allowDecimals={false} tick={{ fontSize: 11, fill: '#334155' }} />
                <Tooltip />
                <Legend wrapperStyle={{ fontSize: 12 }} />
                {types.map((t, i) => (
                  <Area key={t} type="monotone" dataKey={t} stackId="1" stroke={colorOf(i)} fill={colorOf(i)} fillOpacity={0.35} isAnimationActive={false} />
                ))}
              </AreaChart>
            </ResponsiveContainer>
          </div>
        </figure>
        <div className="grid gap-4">
          <div className="rounded-lg bg-white p-4 ring-1 ring-slate-200">
            <p className="text-sm font-semibold text-slate-800">Active users</p>
            <p className="mt-1 text-4xl font-bold text-indigo-800" data-testid="active-users">
              {stats ? stats.active_users : '–'}
            </p>
            <p className="text-xs text-slate-600">in the selected time range</p>
          </div>
          <figure className="rounded-lg bg-white p-3 ring-1 ring-slate-200">
            <figcaption className="text-sm font-semibold text-slate-800">Events by type</figcaption>
            <div className="h-40" role="img" aria-label={`Chart of event totals by type: ${totals.map((t) => `${t.type} ${t.count}`).join(', ') || 'no events'}`}>
              <ResponsiveContainer width="100%" height="100%">
                <PieChart>
                  <Pie data={totals} dataKey="count" nameKey="type" innerRadius="45%" outerRadius="80%" isAnimationActive={false}>
                    {totals.map((t) => (
                      <Cell key={t.type} fill={colorOf(types.indexOf(t.type))} />
                    ))}
                  </Pie>
                  <Tooltip />
                </PieChart>
              </ResponsiveContainer>
            </div>
          </figure>
        </div>
        <figure className="rounded-lg bg-white p-3 ring-1 ring-slate-200 lg:col-span-3">
          <figcaption className="text-sm font-semibold text-slate-800">Top rooms</figcaption>
          <div className="h-56" role="img" aria-label={`Chart of top rooms: ${rooms.map((r) => `${r.room} ${r.count}`).join(', ') || 'no rooms'}`}>
            <ResponsiveContainer width="100%" height="100%">
              <BarChart data={rooms} layout="vertical" margin={{ top: 8, right: 16, bottom: 0, left: 8 }}>
                <CartesianGrid strokeDasharray="3 3" stroke="#cbd5e1" />
                <XAxis type="number" allowDecimals={false} tick={{ fontSize: 11, fill: '#334155' }} />
                <YAxis type="category" dataKey="room" width={120} tick={{ fontSize: 11, fill: '#334155' }} />
                <Tooltip />
                <Bar dataKey="count" name="events" fill="#0072B2" isAnimationActive={false} />
              </BarChart>
            </ResponsiveContainer>
          </div>
        </figure>
      </div>

      <EventTable />
    </div>
  );
}

function EventTable() {
  const [q, setQ] = useState('');
  const [type, setType] = useState('');
  const [user, setUser] = useState('');
  const [room, setRoom] = useState('');
  const [page, setPage] = useState<Page | undefined>();
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const params = useDebounced({ q: q.trim(), type, user: user.trim().toLowerCase(), room: room.trim() }, 300);

  useEffect(() => {
    let live = true;
    setLoading(true);
    setError(null);
    api.activity({ ...params, size: 100 }).then(
      (p) => {
        if (!live) return;
        setPage(p);
        setLoading(false);
      },
      (e) => {
        if (!live) return;
        setError(errorText(e));
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [params.q, params.type, params.user, params.room]); // eslint-disable-line react-hooks/exhaustive-deps

  const events = page?.events ?? [];
  return (
    <section aria-labelledby="events-heading" className="mt-6">
      <h2 id="events-heading" className="text-lg font-semibold text-slate-900">
        Events
      </h2>
      <div className="mt-2 flex flex-wrap items-end gap-3" role="search" aria-label="Filter activity">
        <label className="flex min-w-48 flex-1 flex-col text-sm text-slate-800">
          <input type="search" aria-label="Search activity" placeholder="Search activity…" value={q} onChange={(e) => setQ(e.target.value)} className={inputClass} />
        </label>
        <label className="flex flex-col text-sm text-slate-800">
          Type
          <select value={type} onChange={(e) => setType(e.target.value)} className={inputClass}>
            <option value="">All types</option>
            {KNOWN_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label className="flex flex-col text-sm text-slate-800">
          User
          <input value={user} onChange={(e) => setUser(e.target.value)} className={`${inputClass} w-32`} />
        </label>
        <label className="flex flex-col text-sm text-slate-800">
          Conversation
          <input value={room} onChange={(e) => setRoom(e.target.value)} className={`${inputClass} w-36`} />
        </label>
      </div>
      <p className="mt-2 text-sm text-slate-700" aria-live="polite">
        {error ? <span className="text-red-800">Events: {error}</span> : loading && !page ? 'Loading…' : `${page?.total ?? 0} events${page && page.total > events.length ? `, newest ${events.length} shown` : ''}`}
      </p>
      <div className="mt-2 overflow-x-auto rounded-lg ring-1 ring-slate-200">
        <table className="min-w-full divide-y divide-slate-200 bg-white text-sm">
          <caption className="sr-only">Activity events, newest first</caption>
          <thead className="bg-slate-100 text-left text-slate-800">
            <tr>
              <th scope="col" className="px-3 py-2 font-semibold">Time</th>
              <th scope="col" className="px-3 py-2 font-semibold">Type</th>
              <th scope="col" className="px-3 py-2 font-semibold">User</th>
              <th scope="col" className="px-3 py-2 font-semibold">Room</th>
              <th scope="col" className="px-3 py-2 font-semibold">Message</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100 text-slate-900">
            {events.map((e) => (
              <tr key={e.id}>
                <td className="whitespace-nowrap px-3 py-1.5">
                  <time dateTime={e.ts}>{new Date(e.ts).toLocaleString()}</time>
                </td>
                <td className="whitespace-nowrap px-3 py-1.5 font-mono text-xs">{e.type}</td>
                <td className="px-3 py-1.5">{e.user}</td>
                <td className="px-3 py-1.5 [overflow-wrap:anywhere]">{e.room ?? ''}</td>
                <td className="px-3 py-1.5 font-mono text-xs [overflow-wrap:anywhere]">{e.message_id ?? ''}</td>
              </tr>
            ))}
            {events.length === 0 && !loading && (
              <tr>
                <td colSpan={5} className="px-3 py-4 text-center text-slate-600">
                  No events match.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
