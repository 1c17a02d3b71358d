"""A linearizability checker that stands alone: histories in several formats, models, a search
split into independent parts, and an HTML report. It imports nothing of the simulator or of
etcdcore, so it can be used on histories recorded anywhere.
"""
