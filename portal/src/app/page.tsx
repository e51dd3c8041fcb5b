import { InterviewList } from '@/components/InterviewList';

export const dynamic = 'force-dynamic';

export default function Home() {
  return <InterviewList />;
}
