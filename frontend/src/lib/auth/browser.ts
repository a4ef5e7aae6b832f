// Full-page navigation, in one place so tests can observe it.
export const browser = {
  assign(url: string): void {
    window.location.assign(url);
  },
};
