import { useEffect, useState } from 'react';
import { api } from './api';
import { Chat } from './components/Chat';
import { SignIn } from './components/SignIn';

type Auth = { state: 'loading' } | { state: 'out'; notice?: string } | { state: 'in'; user: string };

export function App() {
  const [auth, setAuth] = useState<Auth>({ state: 'loading' });

  useEffect(() => {
    api
      .me()
      .then((r) => setAuth({ state: 'in', user: r.user.id }))
      .catch(() => setAuth({ state: 'out' }));
  }, []);

  if (auth.state === 'loading') {
    return (
      <div className="flex h-full items-center justify-center text-slate-700" aria-busy="true">
        Loading…
      </div>
    );
  }
  if (auth.state === 'out') {
    return <SignIn notice={auth.notice} onSignedIn={(user) => setAuth({ state: 'in', user })} />;
  }
  return <Chat key={auth.user} me={auth.user} onSignedOut={(notice) => setAuth({ state: 'out', notice })} />;
}
