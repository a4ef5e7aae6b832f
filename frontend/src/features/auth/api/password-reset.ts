import { useMutation } from "@tanstack/react-query";
import { sessionPost } from "@/lib/session-client";

/** Mails a reset link; the same answer whether or not the address has an account. */
export const requestPasswordReset = (email: string) => sessionPost<{ detail: string }>("/api/auth/password-reset", { email });

/** Sets the new password with the mail's one-time token (204); every session of the account ends. */
export const confirmPasswordReset = (body: { token: string; password: string }) =>
  sessionPost<void>("/api/auth/password-reset/confirm", body);

export const useRequestPasswordReset = () => useMutation({ mutationFn: requestPasswordReset });

export const useConfirmPasswordReset = () => useMutation({ mutationFn: confirmPasswordReset });
