import type { NextConfig } from 'next';

const config: NextConfig = {
  // Native or worker-using packages stay outside the bundle.
  serverExternalPackages: ['dynalite', 'pino', '@node-rs/argon2', 'tiktoken', 'tar'],
  poweredByHeader: false,
  reactStrictMode: true,
};

export default config;
