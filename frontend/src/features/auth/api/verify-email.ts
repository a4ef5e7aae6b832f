import { useMutation } from "@tanstack/react-query";
import { sessionPost } from "@/lib/session-client";

/** Uses the mail's one-time token (POST /api/auth/verify-email; session-only, so CSRF, no Bearer). */
export const verifyEmail = (token: string) => sessionPost<{ email_verified: boolean }>("/api/auth/verify-email", { token });

export const useVerifyEmail = () => useMutation({ mutationFn: verifyEmail });
