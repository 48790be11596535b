// Placeholder until minisupctl lands.
int main() { return 0; }
