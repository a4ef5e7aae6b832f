import { useMutation } from "@tanstack/react-query";
import { sessionPost } from "@/lib/session-client";

/** Mails a new verification link (through the login session: the endpoint refuses tokens). */
export const resendVerification = () => sessionPost<{ detail: string }>("/api/auth/verify-email/resend");

export const useResendVerification = () => useMutation({ mutationFn: resendVerification });
