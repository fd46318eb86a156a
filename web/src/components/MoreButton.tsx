interface Props {
  loading: boolean;
  label: string;
  loadingLabel: string;
  onClick: () => void;
}

/** A light button that loads more of a list (older messages, more search results), disabled while it loads. */
export function MoreButton({ loading, label, loadingLabel, onClick }: Props) {
  return (
    <button
      type="button"
      onClick={onClick}
      disabled={loading}
      className="rounded-md px-3 py-1 text-sm text-indigo-800 ring-1 ring-indigo-200 hover:bg-indigo-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600 disabled:opacity-60"
    >
      {loading ? loadingLabel : label}
    </button>
  );
}
