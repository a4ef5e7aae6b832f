import { queryOptions, useQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";

export type Membership = { id: string; name: string; role: string; personal: boolean };

export type Me = {
  id: string;
  email: string;
  name: string;
  status: "pending_approval" | "pending_verification" | "active";
  approved: boolean;
  email_verified: boolean;
  is_staff: boolean;
  date_joined: string;
  organizations: Membership[];
};

export const meQueryOptions = () =>
  queryOptions({
    queryKey: ["me"],
    queryFn: async () => (await api.get<Me>("/api/auth/me")).data,
  });

export const useMe = (enabled = true) => useQuery({ ...meQueryOptions(), enabled });
