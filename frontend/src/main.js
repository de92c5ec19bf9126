import './app.css';
import { mount } from 'svelte';
import { loadConfig } from './lib/config.js';
import App from './App.svelte';

await loadConfig();
mount(App, { target: document.getElementById('app') });
