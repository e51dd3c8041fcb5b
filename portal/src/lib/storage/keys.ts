/**
 * Every storage key the platform writes is built here, so writers (drivers) and readers (routes)
 * can never disagree on where an object lives.
 */

/** The candidate's workspace, archived at destroy (tar.gz). */
export const archiveKey = (interviewId: string) => `archives/${interviewId}/workspace.tar.gz`;
