import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { askNotificationPermission } from '../notify';
import { ChatError, isValidUserId } from '../protocol/types';
import { btnPrimary, field } from './ui';

const USERNAME_RULE = '1–32 characters: letters, digits, “.” or “-”, starting with a letter or digit.';

function signInError(e: unknown): string {
  if (e instanceof ChatError) {
    switch (e.code) {
      case 'unauthorized':
        return 'Wrong password for this username.';
      case 'bad_request':
        return `Invalid username or password: ${e.message} (a new password needs 8 to 128 characters).`;
      case 'rate_limited':
        return 'Too many attempts. Wait a moment and try again.';
      case 'unavailable':
        return 'The chat server cannot be reached. Try again in a moment.';
      default:
        return e.message;
    }
  }
  return 'Sign-in failed.';
}

export function SignIn({ notice, onSignedIn }: { notice?: string; onSignedIn: (user: string) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    setError(null);
    const name = username.trim();
    if (!isValidUserId(name.toLowerCase())) {
      setError(`Invalid username. ${USERNAME_RULE}`);
      return;
    }
    if (password === '') {
      setError('Enter a password (a new username needs 8 to 128 characters).');
      return;
    }
    setBusy(true);
    try {
      const r = await api.signIn(name, password);
      askNotificationPermission();
      onSignedIn(r.user.id);
    } catch (e) {
      setError(signInError(e));
      setBusy(false);
    }
  }

  return (
    <main className="flex min-h-full items-center justify-center bg-gradient-to-br from-indigo-50 to-slate-100 p-4">
      <div className="w-full max-w-sm rounded-2xl bg-white p-6 shadow-lg ring-1 ring-slate-200 sm:p-8">
        <h1 className="text-2xl font-bold text-slate-900">ChatCluster</h1>
        <p className="mt-1 text-sm text-slate-700">Sign in. A new username is registered with the password you choose.</p>
        {notice && (
          <p className="mt-4 rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900 ring-1 ring-amber-200">{notice}</p>
        )}
        <form className="mt-6 space-y-4" onSubmit={submit} noValidate>
          <div>
            <label htmlFor="username" className="block text-sm font-medium text-slate-800">
              Username
            </label>
            <input
              id="username"
              name="username"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              required
              value={username}
              onChange={(e) => setUsername(e.target.value)}
              aria-describedby="username-hint"
              className={`${field} mt-1 block w-full px-3 py-2`}
            />
            <p id="username-hint" className="mt-1 text-xs text-slate-600">
              {USERNAME_RULE}
            </p>
          </div>
          <div>
            <label htmlFor="password" className="block text-sm font-medium text-slate-800">
              Password
            </label>
            <input
              id="password"
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              className={`${field} mt-1 block w-full px-3 py-2`}
            />
          </div>
          {error && (
            <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800 ring-1 ring-red-200">
              {error}
            </p>
          )}
          <button
            type="submit"
            disabled={busy}
            className={`${btnPrimary} w-full px-4 py-2`}
          >
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      </div>
    </main>
  );
}
