import type { ReactNode } from 'react';

/** An error message screen readers announce; renders nothing without one. */
export function ErrorAlert({ children }: { children?: ReactNode }) {
  if (!children) return null;
  return (
    <p role="alert" className="error">
      {children}
    </p>
  );
}
