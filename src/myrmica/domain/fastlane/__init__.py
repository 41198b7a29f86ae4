"""Fastlane (spec/fastlane.md): its job payload, checked and turned into a core definition."""
