// Shared Tailwind class lists, so that every button and field looks and focuses alike.
const focusRing = 'focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600';
export const btnPrimary = `rounded-md bg-indigo-700 font-semibold text-white hover:bg-indigo-800 disabled:opacity-60 ${focusRing} focus-visible:ring-offset-2`;
export const btnDanger = `rounded-md bg-red-700 font-semibold text-white hover:bg-red-800 ${focusRing} focus-visible:ring-offset-2`;
export const btnQuiet = `rounded-md text-slate-800 ring-1 ring-slate-300 hover:bg-slate-100 ${focusRing}`;
export const field = 'rounded-md border border-slate-400 bg-white text-slate-900 placeholder:text-slate-500 focus:border-indigo-600 focus:outline-none focus:ring-2 focus:ring-indigo-600';
export const sectionTitle = 'px-2 text-xs font-bold uppercase tracking-wide text-slate-700';
