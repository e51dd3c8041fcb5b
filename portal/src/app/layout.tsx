import type { ReactNode } from 'react';
import './globals.css';

export const metadata = {
  title: 'Interview Portal',
  description: 'Scheduled coding interviews with a browser IDE and a metered AI assistant',
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <header className="topbar">
          <a href="/" className="brand">
            Interview Portal
          </a>
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
