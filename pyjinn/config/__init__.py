"""Caddyfile configuration: text in, frozen, validated ``Config`` out."""
