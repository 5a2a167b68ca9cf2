"""pcie"""
