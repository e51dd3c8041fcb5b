import { InterviewDetail } from '@/components/InterviewDetail';

export const dynamic = 'force-dynamic';

export default async function InterviewPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <InterviewDetail id={id} />;
}
