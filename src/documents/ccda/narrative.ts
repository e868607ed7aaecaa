// CDA section narrative (<text>) → FHIR XHTML narrative div. The CDA narrative block is a small,
// HTML-like vocabulary; it maps element by element onto the XHTML subset FHIR allows. Anything
// unknown keeps its text content (in a span); no attribute is copied except a safe id / href / span.
import type { XmlElement, XmlNode } from '../xml/index.ts';

function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttr(s: string): string {
  return escapeText(s).replace(/"/g, '&quot;');
}

const TABLE_PARTS = new Set(['thead', 'tbody', 'tfoot', 'tr', 'th', 'td', 'col', 'colgroup']);
const SAFE_ID = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/;

function idAttr(el: XmlElement): string {
  const id = el.attrs.ID;
  return id !== undefined && SAFE_ID.test(id) ? ` id="${escapeAttr(id)}"` : '';
}

function spanAttr(el: XmlElement, name: 'colspan' | 'rowspan'): string {
  const v = el.attrs[name];
  return v !== undefined && /^[1-9][0-9]{0,2}$/.test(v) ? ` ${name}="${v}"` : '';
}

function render(nodes: XmlNode[], inTable: boolean, out: string[]): void {
  for (const n of nodes) {
    if (n.type === 'text') {
      out.push(escapeText(n.text));
      continue;
    }
    const kids = n.children;
    switch (n.local) {
      case 'table':
        out.push(`<table${idAttr(n)}>`);
        render(kids, true, out);
        out.push('</table>');
        break;
      case 'caption':
        if (inTable) {
          out.push('<caption>');
          render(kids, false, out);
          out.push('</caption>');
        } else {
          out.push('<p><b>');
          render(kids, false, out);
          out.push('</b></p>');
        }
        break;
      case 'list': {
        const tag = n.attrs.listType === 'ordered' ? 'ol' : 'ul';
        out.push(`<${tag}${idAttr(n)}>`);
        render(kids, false, out);
        out.push(`</${tag}>`);
        break;
      }
      case 'item':
        out.push(`<li${idAttr(n)}>`);
        render(kids, false, out);
        out.push('</li>');
        break;
      case 'paragraph':
        out.push(`<p${idAttr(n)}>`);
        render(kids, false, out);
        out.push('</p>');
        break;
      case 'br':
        out.push('<br/>');
        break;
      case 'sub':
      case 'sup':
        out.push(`<${n.local}>`);
        render(kids, false, out);
        out.push(`</${n.local}>`);
        break;
      case 'linkHtml': {
        const href = n.attrs.href;
        const safe = href !== undefined && /^(https?:\/\/|#)[^\s"<>]*$/i.test(href);
        out.push(safe ? `<a href="${escapeAttr(href)}">` : '<span>');
        render(kids, false, out);
        out.push(safe ? '</a>' : '</span>');
        break;
      }
      case 'renderMultiMedia':
        break;
      default:
        if (inTable && TABLE_PARTS.has(n.local)) {
          const attrs = n.local === 'td' || n.local === 'th' ? `${idAttr(n)}${spanAttr(n, 'colspan')}${spanAttr(n, 'rowspan')}` : idAttr(n);
          out.push(`<${n.local}${attrs}>`);
          render(kids, n.local !== 'td' && n.local !== 'th', out);
          out.push(`</${n.local}>`);
        } else {
          // content, footnote, footnoteRef and anything unknown: inline text.
          out.push(`<span${idAttr(n)}>`);
          render(kids, false, out);
          out.push('</span>');
        }
    }
  }
}

/** XHTML div for a CDA narrative block, or undefined when it has no text at all. */
export function narrativeDiv(text: XmlElement | undefined): string | undefined {
  if (text === undefined || !hasText(text)) return undefined;
  const out: string[] = ['<div xmlns="http://www.w3.org/1999/xhtml">'];
  render(text.children, false, out);
  out.push('</div>');
  return out.join('');
}

function hasText(el: XmlElement): boolean {
  for (const c of el.children) {
    if (c.type === 'text') {
      if (c.text.trim() !== '') return true;
    } else if (hasText(c)) return true;
  }
  return false;
}
